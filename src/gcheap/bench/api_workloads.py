"""Workloads written against the Python API (what bench/stw_pause.py and
bench/cmc_bench.py measured): each builds a heap, collects, and returns its own
metrics; the runner records pauses, cycles, RSS and units around it.

A workload is ``fn(ctx, *args) -> dict`` where ctx has ``rt`` (the Runtime),
``units`` (a UnitClock) and ``note(report)`` (hands a complete GC report to the
timeline). Arguments arrive as strings (from "name:arg,arg" on the command line).
The heap-relative ones fill a fraction of whatever heap they get, so they take
absolute --heap sizes: the minimum heap of such a workload means nothing.
"""
from __future__ import annotations

import random

import numpy as np

from gcheap import _lowlevel as ll

PAGE = 4096
OBJ_PAYLOAD = 1016          # u8 arrays of 1 KiB objects (8-byte header)


def build_half_live(rt, size: int, units=None) -> int:
    """Fills ~90% of the heap with 1 KiB objects and keeps every other one,
    reachable from one ref array (one root): half live, fragmented. A unit of
    work is 1024 objects."""
    n = int(size * 0.9) // (OBJ_PAYLOAD + 8) - 64
    holder = rt.new_array("ref", n // 2 + 1)
    rt.globals["holder"] = holder
    new_array = rt.new_array
    for i in range(n):
        if units is not None and i % 1024 == 0:
            units.start()
        a = new_array("u8", OBJ_PAYLOAD)
        if i % 2 == 0:
            holder[i // 2] = a
            a[0] = i & 0xFF
        if units is not None and (i % 1024 == 1023 or i == n - 1):
            units.end()
    return n


def build_fragmented(rt, fill: float, seed: int, units=None) -> int:
    """Fills `fill` of the heap with ref arrays of random length (2..62), every
    other one live, chained to the previous live one and to a random earlier one:
    fragmented at object granularity, every live object moves and has references
    to rewrite. Returns the number of live objects."""
    rnd = random.Random(seed)
    cap = rt.heap_info()["capacity"]
    avg = 8 + 8 * 32
    n = int(cap * fill / (avg + 4)) | 1
    holder = rt.new_array("ref", n // 2 + 1)
    rt.globals["holder"] = holder
    new_array = rt.new_array
    prev = None
    live = 0
    for i in range(n):
        if units is not None and i % 1024 == 0:
            units.start()
        a = new_array("ref", rnd.randint(2, 62))
        if i % 2 == 0:
            a[0] = prev
            if live:
                a[1] = holder[rnd.randrange(live)]
            holder[live] = a
            live += 1
            prev = a
        if units is not None and (i % 1024 == 1023 or i == n - 1):
            units.end()
    return live + 1


def half_live(ctx, collections: str = "1") -> dict:
    """A half-live fragmented heap of 1 KiB objects, then `collections` explicit
    collections: the flip pause against the stw pause of the same heap."""
    rt = ctx.rt
    build_half_live(rt, rt.heap_info()["capacity"], ctx.units)
    out: dict = {}
    for i in range(int(collections)):
        rep = rt.gc()
        ctx.note(rep)
        if i == 0:
            out = {"live_bytes": rep.live_bytes, "first_pause_s": rep.pause_s}
            if getattr(rep, "concurrent", False):
                # the cycle's pauses (start, remark, flip with concurrent marking; mark,
                # flip with marking="pause") and its concurrent marking time
                cyc = rep.cycle or {}
                out.update(flip_s=rep.pauses["flip"], longest_pause_s=rep.longest_pause_s,
                           mark_s=rep.pauses.get("mark", cyc.get("mark_s", 0.0)), marking=rep.marking,
                           compaction_s=rep.compaction_s, gc_cpu_s=cyc.get("gc_cpu_s", 0.0),
                           rss_before_bytes=rep.process_rss_before, cycle_peak_rss_bytes=rep.peak_rss)
    rt.verify()
    return out


def fragmented(ctx, fill: str = "0.9", seed: str = "0") -> dict:
    """The stw pause and its phases on a heap filled to `fill`, half live."""
    rt = ctx.rt
    live = build_fragmented(rt, float(fill), int(seed), ctx.units)
    rep = rt.gc()
    ctx.note(rep)
    if rep.live_objects != live:
        raise AssertionError(f"live objects {rep.live_objects}, expected {live}")
    rt.verify()
    return {"live_bytes": rep.live_bytes, "moved_bytes": rep.moved_bytes, "live_objects": rep.live_objects,
            **{f"phase.{k}_s": v for k, v in rep.phases.items()}}


def compaction(ctx, cycles: str = "5") -> dict:
    """Compaction throughput (live bytes per second of concurrent compaction) over
    `cycles` steady-state cycles after the fragmented one; collector cmc."""
    rt = ctx.rt
    _need_concurrent(rt)
    build_half_live(rt, rt.heap_info()["capacity"], ctx.units)
    ctx.note(rt.gc())
    gbps = []
    for _ in range(int(cycles)):
        ctx.units.start()
        rep = rt.gc()
        ctx.units.end()
        ctx.note(rep)
        gbps.append(rep.live_bytes / rep.compaction_s / 1e9)
    rt.verify()
    return {"compaction_gbps": float(np.median(gbps)), "compaction_gbps_min": min(gbps),
            "compaction_gbps_max": max(gbps), "install": rep.install, "move_fallback": rep.move_fallback}


def fault_stalls(ctx, pages: str = "3000", cycles: str = "3") -> dict:
    """Mutator-observed stalls of touching pages not yet compacted (run it with
    --opt worker_delay_us=400000 so that GC workers are held back and the mutator
    builds every page it touches); collector cmc."""
    rt = ctx.rt
    _need_concurrent(rt)
    build_half_live(rt, rt.heap_info()["capacity"])
    ctx.note(rt.gc())
    heap = rt.heap_info()["address"]
    n = min(int(pages), rt.heap_info()["live"] // PAGE - 1)
    touched = []
    for _ in range(int(cycles)):
        rt.gc(wait=False)
        ctx.units.start()
        t = ll.cmc_test_touch(heap, n, 1)
        ctx.units.end()
        ctx.note(rt.wait_gc())
        touched.extend(float(x) for x in t)
    rt.verify()
    from gcheap.metrics import percentile
    return {"touch_p50_s": percentile(touched, 50), "touch_p99_s": percentile(touched, 99), "touched_pages": n}


def _need_concurrent(rt) -> None:
    if not rt.concurrent:
        raise RuntimeError("this workload needs collector cmc with concurrent compaction")
