"""The flip pause does not grow with the untouched part of the reservation.

Side by side in one run, alternating: a cmc runtime whose reservation is
--small (default 64 MiB) and one whose reservation is --large (default 4 GiB),
each with the same --used bytes (default 64 MiB) in use, half of them live
(1 KiB objects, every other one kept). One full collection each; reports the
median over --repeat runs of the flip part of the pause (mremap + register +
roots), the longest pause of the cycle and the sum of its pauses (start, remark
and flip: marking is concurrent) and the mremap alone.

    python bench/flip_reservation.py [--repeat 7] [--used 64M] [--small 64M] [--large 4G]
"""
from __future__ import annotations

import argparse
import statistics

import gcheap
from gcheap.bench.api_workloads import build_half_live
from gcheap.runtime import parse_size


def one(reservation: int, used: int) -> dict:
    with gcheap.Runtime(heap_size=reservation, collector="cmc", heap_initial=min(reservation, used + (8 << 20)),
                        require_concurrent=True) as rt:
        build_half_live(rt, used)
        info = rt.heap_info()
        rep = rt.gc()
        assert rep.concurrent, rep
        return {"used": info["used"], "pause": rep.pause_s, "flip": rep.pauses["flip"],
                "mremap": rep.pauses["flip.mremap"], "register": rep.pauses["flip.register"],
                "longest": rep.longest_pause_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--used", default="64M")
    ap.add_argument("--small", default="64M")
    ap.add_argument("--large", default="4G")
    a = ap.parse_args()
    used = parse_size(a.used)
    sizes = {"small": parse_size(a.small), "large": parse_size(a.large)}
    runs: dict[str, list[dict]] = {k: [] for k in sizes}
    for _ in range(a.repeat):
        for k, size in sizes.items():
            runs[k].append(one(size, used))
    print(f"{'reservation':>12} {'used MiB':>9} {'flip ms':>8} {'mremap ms':>10} {'register ms':>12} "
          f"{'longest ms':>10} {'pauses ms':>9}   (median of {a.repeat}; min-max flip)")
    med = {}
    for k, size in sizes.items():
        r = runs[k]
        m = {f: statistics.median(x[f] for x in r) for f in ("flip", "mremap", "register", "longest", "pause")}
        med[k] = m
        lo, hi = min(x["flip"] for x in r), max(x["flip"] for x in r)
        print(f"{size >> 20:>10}Mi {r[0]['used'] / 2**20:>9.1f} {m['flip'] * 1e3:>8.3f} {m['mremap'] * 1e3:>10.3f} "
              f"{m['register'] * 1e3:>12.3f} {m['longest'] * 1e3:>10.3f} {m['pause'] * 1e3:>9.3f}   "
              f"({lo * 1e3:.3f}-{hi * 1e3:.3f})")
    print(f"large/small: flip {med['large']['flip'] / med['small']['flip']:.2f}x, "
          f"mremap {med['large']['mremap'] / med['small']['mremap']:.2f}x, "
          f"longest pause {med['large']['longest'] / med['small']['longest']:.2f}x, "
          f"pauses {med['large']['pause'] / med['small']['pause']:.2f}x")


if __name__ == "__main__":
    main()
