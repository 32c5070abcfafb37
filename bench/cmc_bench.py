#!/usr/bin/env python3
"""Concurrent compactor benchmarks, measured side by side in one run.

  1. flip pause vs heap size (half live, fragmented) against the stw pause of
     the same heap built the same way;                target: flip < 1 ms at 1 GiB, >= 200x shorter
  2. compaction throughput (live bytes/s, 1 GC thread, no mutator), copy and
     move, against the raw batched UFFDIO_COPY limit; target: >= 50% of raw
  3. mutator fault stalls p50/p99 (mutator-observed) against the raw fault
     round trip, sigbus and thread modes;            target: p50 <= 2x raw, p99 <= 5x raw
  4. peak RSS during a cycle vs RSS before it;        target: <= 1.1 x before + 8 MiB

Usage: .venv/bin/python bench/cmc_bench.py [--sizes 64M,128M,256M,512M,1G] [--json out.json] [--quick]
Raw costs: gcheap.kernel.rawcost.measure() of the kernel layer (timing loops in C),
run before and after the cmc measurements; ratios use the mean of the two.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # idle BLAS threads compete for the 2 cores
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
import gcheap  # noqa: E402
from gcheap.kernel import rawcost  # noqa: E402  (raw costs of the kernel primitives, kernel layer)
from gcheap import _lowlevel as ll  # noqa: E402
from gcheap.runtime import parse_size  # noqa: E402

PAGE = 4096
OBJ_PAYLOAD = 1016          # u8 arrays of 1 KiB objects (8-byte header)


def build_half_live(rt, size: int) -> int:
    """Fills ~90% of the heap with 1 KiB objects and keeps every other one,
    reachable from one ref array (one root): half live, fragmented."""
    n = int(size * 0.9) // (OBJ_PAYLOAD + 8) - 64
    holder = rt.new_array("ref", n // 2 + 1)
    rt.globals["holder"] = holder
    new_array = rt.new_array
    for i in range(n):
        a = new_array("u8", OBJ_PAYLOAD)
        if i % 2 == 0:
            holder[i // 2] = a
            a[0] = i & 0xFF
    del holder
    return n


def flip_vs_stw(sizes: list[int], threads: int = 1) -> list[dict]:
    rows = []
    for size in sizes:
        row = {"heap": size}
        with gcheap.Runtime(size, collector="cmc", require_concurrent=True, gc_threads=threads) as rt:
            build_half_live(rt, size)
            rep = rt.gc()
            row.update(live=rep.live_bytes, cmc_pause=rep.pause_s, mark=rep.pauses["mark"],
                       flip=rep.pauses["flip"], flip_roots=rep.pauses["flip.roots"],
                       flip_mremap=rep.pauses["flip.mremap"], flip_register=rep.pauses["flip.register"],
                       compaction_s=rep.compaction_s, rss_before=rep.process_rss_before, peak_rss=rep.peak_rss,
                       pages_by_gc=rep.pages_by_gc)
            rt.verify()
        with gcheap.Runtime(size, collector="stw") as rt:
            build_half_live(rt, size)
            rep = rt.gc()
            row.update(stw_pause=rep.pause_s, stw_live=rep.live_bytes)
        row["stw_over_flip"] = row["stw_pause"] / row["flip"]
        rows.append(row)
        print(f"  {size >> 20:5d} MiB: flip {row['flip'] * 1e3:.3f} ms, stw {row['stw_pause'] * 1e3:.1f} ms",
              flush=True)
    return rows


def raw_costs(scale: float = 0.5) -> dict:
    """The kernel layer's raw-cost measurement (gcheap.kernel.rawcost, timing loops in C)."""
    return rawcost.measure(scale=scale)["results"]


def compaction_throughput(size: int, install: str, reps: int = 5) -> dict:
    with gcheap.Runtime(size, collector="cmc", require_concurrent=True, install=install, gc_threads=1) as rt:
        build_half_live(rt, size)
        rt.gc()                                         # the fragmented cycle; then steady state
        runs = []
        for _ in range(reps):
            rep = rt.gc()
            runs.append(rep.live_bytes / rep.compaction_s / 1e9)
        rt.verify()
        return {"install": rep.install, "move_fallback": rep.move_fallback, "live": rep.live_bytes,
                "gbps": statistics.median(runs), "runs": runs}


def pct(a: np.ndarray, q: float) -> float:
    return float(np.percentile(a, q))


def fault_stalls(mode: str, size: int, npages: int = 3000, reps: int = 3) -> dict:
    """Mutator-observed stall of touching npages not yet compacted (the GC worker
    is held back so that the mutator builds every page it touches)."""
    p50, p99, logged = [], [], []
    with gcheap.Runtime(size, collector="cmc", require_concurrent=True, fault_mode=mode,
                        worker_delay_us=400_000) as rt:
        build_half_live(rt, size)
        rt.gc()
        heap = rt.heap_info()["address"]
        live_pages = rt.heap_info()["live"] // PAGE
        n = min(npages, live_pages - 1)
        for r in range(reps + 1):
            rt.gc(wait=False)
            t = ll.cmc_test_touch(heap, n, 1)
            rep = rt.wait_gc()
            if r == 0:
                continue                                # warm-up cycle
            p50.append(pct(t, 50))
            p99.append(pct(t, 99))
            logged.append(pct(rep.fault_stalls_s, 50))
            assert rep.pages_by_mutator >= n
        rt.verify()
    return {"p50": statistics.median(p50), "p99": statistics.median(p99), "logged_p50": statistics.median(logged)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="64M,128M,256M,512M,1G")
    ap.add_argument("--throughput-heap", default="256M")
    ap.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "cmc_bench.json"))
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    args = ap.parse_args()
    sizes = [parse_size(s) for s in ("16M,32M" if args.quick else args.sizes).split(",")]
    tp_heap = parse_size("32M" if args.quick else args.throughput_heap)

    print("1. flip pause vs heap size (half live, fragmented) vs stw of the same heap", flush=True)
    flips = flip_vs_stw(sizes)
    print("2. compaction throughput vs raw batched UFFDIO_COPY", flush=True)
    # raw costs measured before and after the cmc runs (the machine is shared):
    # every ratio uses the mean of the two medians
    raw0 = raw_costs()
    tp = {inst: compaction_throughput(tp_heap, inst) for inst in ("copy", "move")}
    print("3. mutator fault stalls vs raw fault round trip", flush=True)
    stalls = {mode: {"cmc": fault_stalls(mode, parse_size("32M"))} for mode in ("sigbus", "thread")}
    raw1 = raw_costs()

    def both(key, field="median"):
        return (raw0[key][field] + raw1[key][field]) / 2

    gbps = lambda us_per_page: PAGE / (us_per_page * 1e-6) / 1e9  # noqa: E731
    raw_gbps_before = gbps(raw0["uffdio_copy_64"]["median"])
    raw_gbps_after = gbps(raw1["uffdio_copy_64"]["median"])
    raw_gbps = gbps(both("uffdio_copy_64"))
    for mode in stalls:
        key = f"fault_roundtrip_{mode}"
        stalls[mode]["raw"] = {"p50": both(key) * 1e-6, "p99": both(key, "p99") * 1e-6}

    big = flips[-1]
    rss_rows = [(r["heap"], r["rss_before"], r["peak_rss"]) for r in flips]
    targets = {
        "flip_under_1ms_at_largest": big["flip"] < 1e-3,
        "flip_200x_shorter_than_stw_at_largest": big["stw_over_flip"] >= 200,
        "throughput_copy_50pct_raw": tp["copy"]["gbps"] >= 0.5 * raw_gbps,
        "stalls_sigbus_p50_2x": stalls["sigbus"]["cmc"]["p50"] <= 2 * stalls["sigbus"]["raw"]["p50"],
        "stalls_sigbus_p99_5x": stalls["sigbus"]["cmc"]["p99"] <= 5 * stalls["sigbus"]["raw"]["p99"],
        "stalls_thread_p50_2x": stalls["thread"]["cmc"]["p50"] <= 2 * stalls["thread"]["raw"]["p50"],
        "stalls_thread_p99_5x": stalls["thread"]["cmc"]["p99"] <= 5 * stalls["thread"]["raw"]["p99"],
        "peak_rss": all(peak <= before * 1.1 + (8 << 20) for _, before, peak in rss_rows),
    }

    print()
    print(f"machine: {platform.node()} {platform.release()} {os.cpu_count()} cpus; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    print()
    print("| heap | live | mark pause | flip pause | flip.roots | flip.mremap | flip.register | stw pause "
          "| stw/flip | compaction | rss before | peak rss | peak/(1.1*before+8M) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in flips:
        limit = r["rss_before"] * 1.1 + (8 << 20)
        print(f"| {r['heap'] >> 20} MiB | {r['live'] / 2**20:.0f} MiB | {r['mark'] * 1e3:.2f} ms "
              f"| {r['flip'] * 1e3:.3f} ms | {r['flip_roots'] * 1e3:.3f} ms | {r['flip_mremap'] * 1e3:.3f} ms "
              f"| {r['flip_register'] * 1e3:.3f} ms | {r['stw_pause'] * 1e3:.1f} ms | {r['stw_over_flip']:.0f}x "
              f"| {r['compaction_s'] * 1e3:.1f} ms | {r['rss_before'] / 2**20:.0f} MiB "
              f"| {r['peak_rss'] / 2**20:.0f} MiB | {r['peak_rss'] / limit:.2f} |")
    print()
    print(f"| compaction ({tp_heap >> 20} MiB heap, 1 GC thread, no mutator) | GB/s | % of raw batched COPY |")
    print("|---|---|---|")
    print(f"| raw UFFDIO_COPY, 64-page calls (rawcost): mean (before / after) | {raw_gbps:.2f} ({raw_gbps_before:.2f} / "
          f"{raw_gbps_after:.2f}) | 100% |")
    for inst, t in tp.items():
        note = " (kernel lacks MOVE: copy used)" if t["move_fallback"] else ""
        print(f"| cmc install={inst}{note} | {t['gbps']:.2f} | {100 * t['gbps'] / raw_gbps:.0f}% |")
    print()
    print("| fault stalls (mutator-observed) | raw p50 | cmc p50 | ratio | raw p99 | cmc p99 | ratio | cmc handler-logged p50 |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, s in stalls.items():
        raw, c = s["raw"], s["cmc"]
        print(f"| {mode} | {raw['p50'] * 1e6:.1f} us | {c['p50'] * 1e6:.1f} us | {c['p50'] / raw['p50']:.2f}x "
              f"| {raw['p99'] * 1e6:.1f} us | {c['p99'] * 1e6:.1f} us | {c['p99'] / raw['p99']:.2f}x "
              f"| {c['logged_p50'] * 1e6:.1f} us |")
    print()
    for k, v in targets.items():
        print(f"target {k}: {'met' if v else 'MISSED'}")

    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"flip_vs_stw": flips, "raw_costs": {"before": raw0, "after": raw1}, "raw_copy_gbps": raw_gbps, "throughput": tp,
                   "stalls": stalls, "targets": targets, "argv": sys.argv,
                   "when": time.time(), "kernel": platform.release()}, f, indent=1)
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
