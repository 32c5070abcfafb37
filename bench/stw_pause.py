"""Stop-the-world pause vs heap size, with the phase breakdown.

For each heap size (64 MiB .. 1 GiB) the heap is filled to about 90% with ref
arrays of random length (2..62 elements); every other one stays live (about
half of the heap), chained to the previous live one and to a random earlier
one, so the heap is fragmented at object granularity and every live object
moves and has references to rewrite. Then one full collection is timed.

    .venv/bin/python bench/stw_pause.py [--sizes 64M,128M,...] [--repeat N] [--json out.json]

Prints a table (median of the repeats, with min..max of the pause) and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time

import gcheap
from gcheap.runtime import parse_size

PHASES = ["safepoint", "mark", "compute_liveness", "compute_page_metadata", "update_roots",
          "compact", "release"]


def build_fragmented(rt: gcheap.Runtime, fill: float, seed: int) -> int:
    """Fills `fill` of the heap; returns the number of live objects."""
    rnd = random.Random(seed)
    cap = rt.heap_info()["capacity"]
    avg = 8 + 8 * 32                       # mean object size
    n = int(cap * fill / (avg + 4)) | 1    # + the holder's slot per live object
    holder = rt.new_array("ref", n // 2 + 1)
    rt.globals["holder"] = holder
    new_array = rt.new_array
    prev = None
    live = 0
    for i in range(n):
        a = new_array("ref", rnd.randint(2, 62))
        if i % 2 == 0:
            a[0] = prev
            if live:
                a[1] = holder[rnd.randrange(live)]
            holder[live] = a
            live += 1
            prev = a
    return live + 1


def measure(size: int, seed: int) -> dict:
    with gcheap.Runtime(heap_size=size) as rt:
        t = time.perf_counter()
        live_objects = build_fragmented(rt, 0.9, seed)
        build_s = time.perf_counter() - t
        before = rt.heap_info()
        rep = rt.gc()
        assert rep.live_objects == live_objects, (rep.live_objects, live_objects)
        rt.verify()
        return {"heap_bytes": size, "used_before": rep.used_before, "live_bytes": rep.live_bytes,
                "moved_bytes": rep.moved_bytes, "live_objects": rep.live_objects,
                "pause_s": rep.pause_s, "phases": rep.phases, "rss_before": rep.rss_before,
                "rss_after": rep.rss_after, "build_s": build_s, "stats_collections_before": 0,
                "used_fraction": before["used"] / size}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="64M,128M,256M,512M,1G")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", default="bench/results/stw_pause.json")
    args = ap.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    rows = []
    for size in sizes:
        runs = [measure(size, seed) for seed in range(args.repeat)]
        runs.sort(key=lambda r: r["pause_s"])
        med = runs[len(runs) // 2]
        med = dict(med, pause_min_s=runs[0]["pause_s"], pause_max_s=runs[-1]["pause_s"],
                   runs=[r["pause_s"] for r in runs])
        rows.append(med)
        print(f"  measured {size >> 20} MiB: pause {med['pause_s'] * 1e3:.1f} ms", file=sys.stderr)

    hdr = ["heap MiB", "live MiB", "moved MiB", "objects", "pause ms", "(min..max)"] + \
          [p.replace("compute_", "c_").replace("page_metadata", "pagemeta") for p in PHASES]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r in rows:
        cells = [f"{r['heap_bytes'] >> 20}", f"{r['live_bytes'] / 2**20:.1f}", f"{r['moved_bytes'] / 2**20:.1f}",
                 f"{r['live_objects']}", f"{r['pause_s'] * 1e3:.2f}",
                 f"{r['pause_min_s'] * 1e3:.1f}..{r['pause_max_s'] * 1e3:.1f}"] + \
                [f"{r['phases'].get(p, 0) * 1e3:.2f}" for p in PHASES]
        print("| " + " | ".join(cells) + " |")
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "repeat": args.repeat,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(meta, f, indent=1)
        print(f"json: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
