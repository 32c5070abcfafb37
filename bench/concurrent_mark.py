"""Concurrent marking of collector cmc against its targets, side by side in one run.

    python bench/concurrent_mark.py [--heaps 256M,1G,4G] [--repeat 3] [--splay-runs 5] [--splay-args 300,50]

1. pauses: a half-live heap (90% full of 1 KiB objects, every other one kept; no
   mutator), the runtime's third collection (steady state: see steady_half_live): the longest single pause of a whole cmc
   cycle at each heap size, and 4 GiB against 256 MiB;
2. marking: bytes marked per second by the concurrent marker against the stw
   mark phase on the same heap, and GC CPU per cycle (marker + compaction
   threads) against the stw pause (all of it GC work);
3. remark: the remark pause with 0 and with ~1000 barrier-logged references
   left for it (a mutator cuts them while the cycle holds after its start
   pause), and the cost per entry (remark_flush=False: the remark takes them);
   then the same with the default catch-up pause that hands them to the marker;
4. Splay (examples/splay.py) under cmc with the default heap sizing (it must
   collect at least 5 times) against the same program in a heap so large that
   it never collects, for each of --splay-args (Splay's runs of 80
   modifications): Octane's 50 runs end while the heap still grows (3-4
   cycles with the default sizing); 300 is the shortest count measured that
   collects at least 5 times in every run (100-200 give 3-5): longest GC pause, RMS and max of Splay's own latency
   samples, MMU over 10 ms windows (gcheap.metrics, from the pause log), and
   the TLB shootdowns the machine took during each run (/proc/interrupts);
5. installs (printed before part 4): each install ("move", "copy", "auto") on a
   half-live heap, without a mutator and with a Python thread reading random
   objects during compaction: GC CPU per cycle, the reader's fault stalls (p50,
   p99) and the time of its reads.
Every figure is the median over --repeat runs with its min-max.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import gcheap
from gcheap import _lowlevel as ll
from gcheap import metrics
from gcheap.bench.api_workloads import build_half_live
from gcheap.runtime import parse_size

ROOT = Path(__file__).resolve().parents[1]


def med(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt(xs, scale=1.0, nd=3):
    m, lo, hi = med([x * scale for x in xs])
    return f"{m:.{nd}f} ({lo:.{nd}f}-{hi:.{nd}f})"


# ---- 1 and 2: pauses, marking throughput, GC CPU --------------------------------------

def steady_half_live(rt, size: int):
    """The collection measured is the runtime's third: a first half-live heap is
    collected, then dropped and collected again, and the heap is rebuilt. The
    collector's side tables (bitmaps, offsets, page metadata) have then been
    written once, as in a running program; on this VM a first touch of fresh
    memory costs far more than the marking itself (the host backs the page)."""
    build_half_live(rt, size)
    rt.gc()
    rt.globals["holder"] = None
    rt.gc()
    build_half_live(rt, size)
    return rt.gc()


def cmc_half_live(size: int, install: str | None, variant: dict | None = None) -> dict:
    opts = {"install": install} if install else {}      # default: the runtime's (auto)
    opts.update(variant or {})
    with gcheap.Runtime(heap_size=size, heap_initial=size, collector="cmc", require_concurrent=True,
                        pacing=False, **opts) as rt:
        rep = steady_half_live(rt, size)
        c = rep.cycle
        return {"longest": c["longest_pause_s"], "total": c["total_pause_s"], "mark_s": c["mark_s"],
                "marked": c["marked_bytes"], "gc_cpu": c["gc_cpu_s"], "compaction": c["compaction_s"],
                "prepare": c["prepare_s"], "live": c["live_bytes"], "install": rep.install,
                "pauses": {k: v for k, v in rep.pauses.items() if "." not in k}}


def stw_half_live(size: int) -> dict:
    with gcheap.Runtime(heap_size=size, heap_initial=size, collector="stw") as rt:
        rep = steady_half_live(rt, size)
        return {"pause": rep.pause_s, "mark": rep.phases["mark"], "live": rep.live_bytes}


# ---- 3: remark cost per logged entry ------------------------------------------------------

def remark_with_entries(n: int, flush: bool = False) -> tuple[float, int, float]:
    """The remark pause with n logged references in a mutator's partial buffer
    (flush=False: the remark takes them; True, the default: a catch-up pause hands
    them to the marker first). Returns remark s, entries, catch-up pauses s."""
    with gcheap.Runtime(heap_size="64M", heap_initial="64M", collector="cmc", require_concurrent=True,
                        hold_after_start_ms=150, pacing=False, remark_budget_us=1_000_000,
                        remark_flush=flush) as rt:
        Node = rt.define_class("Node", refs=["next"], scalars=["v"])
        arr = rt.new_array("ref", max(n, 1))
        rt.globals["arr"] = arr
        for i in range(n):
            arr[i] = rt.new(Node, v=i)
        before = len(ll.pauses(rt._c))
        box = {}
        t = threading.Thread(target=lambda: box.setdefault("rep", rt.gc()))
        t.start()
        while not any(p["kind"] == "start" for p in ll.pauses(rt._c)[before:]):
            time.sleep(0.0005)
        for i in range(n):
            arr[i] = None           # each logged, and left in this thread's partial buffer
        t.join()
        c = box["rep"].cycle
        pauses = {p["seq"]: p for p in ll.pauses(rt._c)}
        remarks = [pauses[s] for s in c["pause_seq"] if pauses[s]["kind"] == "remark"]
        catchups = [pauses[s] for s in c["pause_seq"] if pauses[s]["kind"] == "catchup"]
        return (sum(p["pause_ns"] for p in remarks) / 1e9, c["satb_entries"],
                sum(p["pause_ns"] for p in catchups) / 1e9)


# ---- 5: installs, with and without a racing mutator --------------------------------------

def install_cycle(size: int, install: str, reads: int) -> dict:
    import random

    import numpy as np
    with gcheap.Runtime(heap_size=size, heap_initial=size, collector="cmc", require_concurrent=True,
                        pacing=False, install=install) as rt:
        build_half_live(rt, size)
        rt.gc()
        rt.globals["holder"] = None
        rt.gc()
        build_half_live(rt, size)
        holder = rt.globals["holder"]
        rnd = random.Random(1)
        idx = [rnd.randrange(len(holder) - 1) for _ in range(reads)]
        rt.gc(wait=False)
        t0 = time.perf_counter()
        for i in idx:
            holder[i][0]
        read_s = time.perf_counter() - t0
        rep = rt.wait_gc()
        st = np.asarray(rep.fault_stalls_s)
        pct = (lambda q: float(np.percentile(st, q)) * 1e6) if len(st) else (lambda q: 0.0)
        return {"gc_cpu": rep.cycle["gc_cpu_s"], "read_s": read_s if reads else 0.0, "p50": pct(50),
                "p99": pct(99), "auto_copy": rep.auto_copy_pages}


# ---- 4: Splay ------------------------------------------------------------------------------

SPLAY_RE = re.compile(r"#time latency samples (\d+) rms ([\d.]+) ms max ([\d.]+) ms")


def tlb_shootdowns() -> int | None:
    """TLB shootdown IPIs received so far, all CPUs (x86 /proc/interrupts), or None."""
    try:
        with open("/proc/interrupts") as f:
            for line in f:
                if line.lstrip().startswith("TLB:"):
                    return sum(int(x) for x in line.split()[1:] if x.isdigit())
    except OSError:
        pass
    return None


def splay(options: list[str], runs: str = "50") -> dict:
    import json
    tlb0 = tlb_shootdowns()
    with tempfile.NamedTemporaryFile(suffix=".json") as js:
        p = subprocess.run([sys.executable, "-m", "gcheap", "run", *options, "--stats-json", js.name,
                            str(ROOT / "examples" / "splay.py"), runs], capture_output=True, text=True, check=True)
        d = json.load(open(js.name))
    tlb1 = tlb_shootdowns()
    m = SPLAY_RE.search(p.stdout)
    log = d["pause_log"]
    rel = [q["start_s"] - d["start_s"] for q in log]
    mmu10 = metrics.mmu(rel, [q["pause_s"] for q in log], max([d["wall_s"]] + [r + q["pause_s"] for r, q in
                                                                                   zip(rel, log)]), 0.010) if log else 1.0
    worst = max(log, key=lambda q: q["pause_s"]) if log else None
    if worst and worst["pause_s"] > 1e-3 and worst["kind"] != "full":     # cmc: what it was
        print(f"   (a {worst['kind']} pause of {worst['pause_s'] * 1e3:.3f} ms: "
              + ", ".join(f"{k} {v * 1e3:.3f}" for k, v in worst["phases"].items() if v > 1e-5) + " ms)")
    return {"rms_ms": float(m.group(2)), "max_ms": float(m.group(3)), "wall_s": d["wall_s"],
            "pauses": len(log), "longest_ms": d["longest_pause_ms"], "cycles": len(d["cycles"]) or len(log),
            "stalls": sum(c["alloc_stalls"] for c in d["cycles"]), "mmu_10ms": mmu10,
            "tlb": tlb1 - tlb0 if tlb0 is not None and tlb1 is not None else -1}


def run_counts(text: str) -> list[int]:
    """--splay-args: comma-separated positive run counts."""
    try:
        counts = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated run counts, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"run counts must be at least 1, got {text!r}")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heaps", default="256M,1G,4G")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--splay-runs", type=int, default=5, help="part 4: runs of each configuration (default 5)")
    ap.add_argument("--splay-args", default="300,50", type=run_counts,
                    help="part 4: comma-separated counts of Splay's own runs (its first argument), each "
                         "measured in turn (default 300,50: 300 collects at least 5 times, 50 is Octane's)")
    ap.add_argument("--install", default=None, choices=["auto", "copy", "move"],
                    help="cmc's install for parts 1-2 (default: the runtime's, auto)")
    ap.add_argument("--run-pages", default="",
                    help="comma-separated cmc run_pages values (pages a GC thread builds and installs "
                         "in one ioctl) measured beside the default in parts 1-2, runs interleaved")
    ap.add_argument("--install-heap", default="512M", help="part 5's heap (default 512M)")
    ap.add_argument("--no-recycle", action="store_true",
                    help="measure cmc with recycle_free=False (garbage from-space released, not moved "
                         "into the free pages) beside the default in parts 1-2, runs interleaved")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: pauses,remark,splay,installs")
    a = ap.parse_args()
    skip = set(a.skip.split(",")) if a.skip else set()

    if "pauses" not in skip:
        print("== 1, 2. half-live heap, no mutator: one collection (median (min-max) of", a.repeat, "runs)")
        print(f"{'heap':>6} {'cmc longest pause ms':>24} {'cmc all pauses ms':>22} {'cmc mark MB/s':>18} "
              f"{'stw mark MB/s':>18} {'mark ratio':>10} {'cmc GC CPU ms':>20} {'stw pause ms':>20} {'CPU ratio':>9}")
        longest = {}
        for h in a.heaps.split(","):
            size = parse_size(h)
            variants = {f"run_pages={v}": {"run_pages": int(v)} for v in a.run_pages.split(",") if v}
            if a.no_recycle:
                variants["recycle_free=False"] = {"recycle_free": False}
            cm, sw, alt = [], [], {v: [] for v in variants}
            for _ in range(a.repeat):       # interleaved: drift on this machine hits all alike
                cm.append(cmc_half_live(size, a.install))
                sw.append(stw_half_live(size))
                for v, opts in variants.items():
                    alt[v].append(cmc_half_live(size, a.install, opts))
            cmark = [c["marked"] / c["mark_s"] / 1e6 for c in cm]
            smark = [s["live"] / s["mark"] / 1e6 for s in sw]
            longest[h] = statistics.median(c["longest"] for c in cm)
            print(f"{h:>6} {fmt([c['longest'] for c in cm], 1e3):>24} {fmt([c['total'] for c in cm], 1e3):>22} "
                  f"{fmt(cmark, 1, 0):>18} {fmt(smark, 1, 0):>18} "
                  f"{statistics.median(cmark) / statistics.median(smark):>10.2f} "
                  f"{fmt([c['gc_cpu'] for c in cm], 1e3, 1):>20} {fmt([s['pause'] for s in sw], 1e3, 1):>20} "
                  f"{statistics.median(c['gc_cpu'] for c in cm) / statistics.median(s['pause'] for s in sw):>9.2f}")
            for v, rs in alt.items():
                print(f"{'':>6}   {v}: longest pause {fmt([c['longest'] for c in rs], 1e3)} ms, "
                      f"GC CPU {fmt([c['gc_cpu'] for c in rs], 1e3, 1)} ms, CPU ratio "
                      f"{statistics.median(c['gc_cpu'] for c in rs) / statistics.median(s['pause'] for s in sw):.2f}, "
                      f"compaction {fmt([c['compaction'] for c in rs], 1e3, 1)} ms, mark "
                      f"{fmt([c['marked'] / c['mark_s'] / 1e6 for c in rs], 1, 0)} MB/s")
            print(f"{'':>6}   cmc pauses (last run): " +
                  ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in cm[-1]["pauses"].items()) +
                  f"; mark {cm[-1]['mark_s'] * 1e3:.1f} ms, prepare {cm[-1]['prepare'] * 1e3:.1f} ms, "
                  f"install {cm[-1]['install']}, "
                  f"compaction {cm[-1]['compaction'] * 1e3:.1f} ms")
        hs = a.heaps.split(",")
        if len(hs) > 1:
            print(f"longest pause {hs[-1]} / {hs[0]}: {longest[hs[-1]] / longest[hs[0]]:.2f}x")

    if "remark" not in skip:
        print("\n== 3. remark pause and the barrier-logged references left for it")
        base = [remark_with_entries(0)[0] for _ in range(a.repeat)]
        full = [remark_with_entries(1000) for _ in range(a.repeat)]
        t_full = [f[0] for f in full]
        n = statistics.median(f[1] for f in full)
        print(f"remark_flush=False: 0 entries: remark {fmt(base, 1e3)} ms; ~{n:.0f} entries: remark "
              f"{fmt(t_full, 1e3)} ms; per entry "
              f"{(statistics.median(t_full) - statistics.median(base)) / max(n, 1) * 1e9:.0f} ns")
        fl = [remark_with_entries(1000, flush=True) for _ in range(a.repeat)]
        print(f"remark_flush=True (default): ~{statistics.median(f[1] for f in fl):.0f} entries: catch-up pause "
              f"{fmt([f[2] for f in fl], 1e3)} ms, then the remark {fmt([f[0] for f in fl], 1e3)} ms")

    if "installs" not in skip:
        size = parse_size(a.install_heap)
        print(f"\n== 5. installs, {a.install_heap} half-live heap, interleaved: no mutator / a Python thread "
              f"reading 200000 random objects during compaction (median (min-max) of {a.repeat})")
        names = ("move", "copy", "auto")
        idle = {n: [] for n in names}
        race = {n: [] for n in names}
        for _ in range(a.repeat):
            for n in names:
                idle[n].append(install_cycle(size, n, 0))
                race[n].append(install_cycle(size, n, 200_000))
        for n in names:
            print(f"{n:>5}: no mutator: GC CPU {fmt([r['gc_cpu'] for r in idle[n]], 1e3, 1)} ms | with the reader: "
                  f"GC CPU {fmt([r['gc_cpu'] for r in race[n]], 1e3, 1)} ms, fault stall p50 "
                  f"{fmt([r['p50'] for r in race[n]], 1, 1)} us, p99 {fmt([r['p99'] for r in race[n]], 1, 1)} us, "
                  f"reads {fmt([r['read_s'] for r in race[n]])} s"
                  + (f", pages copied {fmt([r['auto_copy'] for r in race[n]], 1, 0)}" if n == "auto" else ""))

    if "splay" not in skip:
        for runs in a.splay_args:
            splay_part(a.splay_runs, str(runs))


def splay_part(repeat: int, runs: str) -> None:
    print(f"\n== 4. Splay ({runs} runs of 80 modifications), {repeat} run{'s' if repeat != 1 else ''} each: cmc (default sizing) against a "
          "heap that never collects (the three interleaved, so that the machine's slow spells fall on all of them)")
    never, cm, stw = [], [], []
    for _ in range(repeat):
        never.append(splay(["--heap", "8G", "--heap-initial", "8G"], runs))
        cm.append(splay(["--collector", "cmc"], runs))
        stw.append(splay(["--collector", "stw"], runs))
    for name, rs in (("no collection", never), ("cmc", cm), ("stw", stw)):
        print(f"{name:>14}: cycles {fmt([r['cycles'] for r in rs], 1, 0)}, "
              f"longest pause {fmt([r['longest_ms'] for r in rs])} ms, "
              f"RMS {fmt([r['rms_ms'] for r in rs])} ms, max {fmt([r['max_ms'] for r in rs], 1, 1)} ms, "
              f"MMU(10ms) {fmt([r['mmu_10ms'] for r in rs])}, stalls {fmt([r['stalls'] for r in rs], 1, 0)}, "
              f"wall {fmt([r['wall_s'] for r in rs])} s"
              + (f", TLB shootdowns {fmt([r['tlb'] for r in rs], 1, 0)}" if all(r['tlb'] >= 0 for r in rs) else ""))
    base = statistics.median(r['rms_ms'] for r in never)
    print(f"RMS cmc / no collection: {statistics.median(r['rms_ms'] for r in cm) / base:.2f}x")
    five = [r for r in cm if r["cycles"] >= 5]      # the target's heap: it collects at least 5 times
    if len(five) < len(cm):
        print(f"  over the {len(five)} of {len(cm)} cmc runs that collected at least 5 times: "
              + (f"{statistics.median(r['rms_ms'] for r in five) / base:.2f}x, longest pause "
                 f"{max(r['longest_ms'] for r in five):.3f} ms" if five else "none"))


if __name__ == "__main__":
    main()
