"""Every target of the snapshot work (issue 10, docs/snapshot.md), side by side in one run.

    nice -n -20 .venv/bin/python bench/snapshot.py [--heap 1G] [--repeat 3] [--dir DIR] [--json OUT]

A heap of --heap bytes of live, non-zero data (1 MiB byte arrays filled with a
pattern, so every page is written) is snapshotted by the design (DONTUNMAP flip,
SIGBUS and thread fault modes) and by the two baselines (a stop-the-world write;
write-protection pre-copy with WP_ASYNC + PAGEMAP_SCAN), restored in new
processes lazily and eagerly, and swapped out. In the same run, the raw limits
they are compared with: the kernel primitives (gcheap.kernel.rawcost: memcpy,
the missing-fault round trips), the sequential write bandwidth of the file
system the snapshot goes to (the same bytes from a populated buffer, written
with the same 1 MiB calls into a new file in --dir) and an eager read.

Targets (pass/fail printed for each):
  pause          <= 1 ms at 1 GiB, and >= 100x shorter than the stop-the-world write
  throughput     writer >= 85% of min(sequential write bandwidth, memcpy)
  stall          p99 of a mutator's fault served from staging <= 2x the raw round trip (same mode)
  restore        time to the first object read (lazy) <= 5% of an eager read of the snapshot
  swap           the heap's RSS after swap-out <= 5% of what it was
  metadata       <= 1 MiB per GiB of heap
The page cache is warm for the restores (the file was just written), and the
restoring processes import gcheap from bytecode, as an installed package does:
both sides alike. Medians over --repeat runs; min-max in brackets.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import gcheap
from gcheap import _lowlevel as ll
from gcheap.kernel import rawcost
from gcheap.metrics import percentile
from gcheap.runtime import parse_size

MIB = 1 << 20
GIB = 1 << 30
ARRAY = MIB - 16                        # payload of one byte array: the object is 1 MiB


def build(rt, used: int, seed: int = 1) -> int:
    """used bytes of 1 MiB byte arrays, every page non-zero; returns their count."""
    n = used // MIB
    holder = rt.new_array("ref", n)
    rt.globals["holder"] = holder
    for i in range(n):
        a = rt.new_array("u8", ARRAY)
        ll.cmc_test_fill(a._address() + 8, ARRAY // 8 * 8, seed * 100003 + i)
        a[0] = (i % 255) + 1
        holder[i] = a
    rt.globals["marker"] = rt.new_str("first object")
    return n


def med(xs):
    return statistics.median(xs)


def fmt_range(xs, scale=1.0, digits=3):
    return f"{med(xs) * scale:.{digits}f} [{min(xs) * scale:.{digits}f}-{max(xs) * scale:.{digits}f}]"


def seq_write_bandwidth(dirpath: str, nbytes: int, chunk: int) -> float:
    """Bytes/s writing nbytes from a populated buffer into a new file, chunk per call."""
    buf = np.frombuffer(np.random.default_rng(7).bytes(chunk), dtype=np.uint8)
    src = np.empty(nbytes, dtype=np.uint8)
    for off in range(0, nbytes, chunk):                 # a populated source as big as the heap
        src[off:off + chunk] = buf[: min(chunk, nbytes - off)]
    path = os.path.join(dirpath, "seq-write.bin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        mv = memoryview(src)
        t0 = time.perf_counter()
        for off in range(0, nbytes, chunk):
            os.pwrite(fd, mv[off:off + chunk], off)
        dt = time.perf_counter() - t0
    finally:
        os.close(fd)
        os.unlink(path)
    return nbytes / dt


CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import gcheap
t_import = time.perf_counter() - t0
t0 = time.perf_counter()
Runtime = gcheap.Runtime                # `import gcheap` is lazy: this imports the runtime (counted in first_s)
t_runtime_import = time.perf_counter() - t0
rt = Runtime.restore(sys.argv[1], lazy=sys.argv[2] == "lazy", collector="stw")
first = str(rt.globals["marker"])
t_first = time.perf_counter() - t0
holder = rt.globals["holder"]
assert first == "first object" and holder[len(holder) // 2][0] != 0
t_all = None
if sys.argv[2] == "lazy":
    rt.wait_restored()
t_all = time.perf_counter() - t0
stats = rt.page_server_stats()
rt.close()
print(json.dumps({"first_s": t_first, "all_s": t_all, "import_s": t_import, "runtime_import_s": t_runtime_import,
                  "stats": stats}))
"""


def compile_gcheap() -> None:
    """gcheap's modules compiled to bytecode (in their __pycache__), as an installed
    wheel has them: a checkout run under PYTHONDONTWRITEBYTECODE=1 would compile every
    module from source at each start of a restoring process (both sides alike). Not
    PYTHONPYCACHEPREFIX: with it, the standard library's bytecode is not found either."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(gcheap.__file__)], check=True)


def restore_child(path: str, lazy: bool) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD, path, "lazy" if lazy else "eager"], capture_output=True,
                       text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return json.loads(p.stdout)


def stall_run(rt, path: str, fault_mode: str, touches: int) -> dict:
    """A snapshot whose writer is held back (it sleeps after each batch); a mutator
    touches `touches` pages at the END of the heap, all still staged, one word each,
    timed in C: what a mutator waits for a page served from staging."""
    info = rt.heap_info()
    used = info["used"]
    op = rt.snapshot(path, wait=False, fault_mode=fault_mode, writer_delay_us=200_000)
    first = info["address"] + (used // 4096 - touches - 1) * 4096
    times = ll.cmc_test_touch(first, touches, 1)
    rep = op.wait()
    os.unlink(path)
    return {"p50_us": percentile(list(times * 1e6), 50), "p99_us": percentile(list(times * 1e6), 99),
            "served": rep.pages_served, "touches": touches}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heap", default="1G", help="bytes of live data in the snapshotted heap (default 1G)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median reported)")
    ap.add_argument("--dir", default=None, help="where the snapshot files go (default: a new directory in /tmp)")
    ap.add_argument("--json", default=None, help="also write every figure as JSON here")
    ap.add_argument("--touches", type=int, default=4000, help="pages the stall measurement touches")
    a = ap.parse_args()
    used = parse_size(a.heap)
    cap = (used + used // 4 + 64 * MIB + 2 * MIB - 1) // (2 * MIB) * (2 * MIB)
    dirpath = a.dir or tempfile.mkdtemp(prefix="gcheap-snapbench-")
    snap = os.path.join(dirpath, "heap.snap")
    out: dict = {"heap_used": used, "dir": dirpath, "repeat": a.repeat, "kernel": os.uname().release}

    # ---- raw limits (the same run)
    raw = rawcost.measure(scale=0.25)["results"]
    memcpy_bps = 4096 / (raw["memcpy"]["median"] * 1e-6)
    rt_sigbus = raw["fault_roundtrip_sigbus"]
    rt_thread = raw["fault_roundtrip_thread"]
    out["raw"] = {"memcpy_GBps": memcpy_bps / 1e9, "fault_sigbus_us": rt_sigbus, "fault_thread_us": rt_thread}

    rt = gcheap.Runtime(cap, collector="stw", heap_initial=cap)
    try:
        n = build(rt, used)
        heap_bytes = rt.heap_info()["used"]
        out["heap_bytes"] = heap_bytes
        runs: dict[str, list] = {k: [] for k in ("dontunmap", "dontunmap_thread", "stw", "wp")}
        seq = []
        for _ in range(a.repeat):
            seq.append(seq_write_bandwidth(dirpath, heap_bytes, MIB))
            for key, kw in (("dontunmap", {}), ("dontunmap_thread", {"fault_mode": "thread"}),
                            ("stw", {"mode": "stw"}), ("wp", {"mode": "wp"})):
                path = snap if key == "dontunmap" else os.path.join(dirpath, f"{key}.snap")
                rep = rt.snapshot(path, **kw)
                runs[key].append(rep)
                if key != "dontunmap" or len(runs[key]) < a.repeat:
                    os.unlink(path)                     # the last design snapshot is restored below
        seq_bps = med(seq)
        out["raw"]["seq_write_GBps"] = [x / 1e9 for x in seq]
        limit_bps = min(seq_bps, memcpy_bps)

        pause = [r.pause_s for r in runs["dontunmap"]]
        pause_t = [r.pause_s for r in runs["dontunmap_thread"]]
        stw_pause = [r.pause_s for r in runs["stw"]]
        wp_pause = [r.pause_s for r in runs["wp"]]
        thr = [r.bytes_written / r.write_s for r in runs["dontunmap"]]
        out["snapshot"] = {k: [r.as_dict() for r in v] for k, v in runs.items()}

        # ---- stalls served from staging
        stalls = {fm: stall_run(rt, os.path.join(dirpath, f"stall-{fm}.snap"), fm, a.touches)
                  for fm in ("sigbus", "thread")}
        out["stalls"] = stalls

        # ---- swap-out
        before = rt.heap_info()["resident"]
        srep = rt.swap_out(os.path.join(dirpath, "heap.swap"))
        after = rt.heap_info()["resident"]
        _ = rt.globals["holder"][n // 3][5]              # one touch: faults back one chunk
        touched = rt.heap_info()["resident"]
        rt.swap_in(wait=True)
        back = rt.heap_info()["resident"]
        out["swap"] = {"resident_before": before, "resident_after": after, "after_one_touch": touched,
                       "after_swap_in": back, "report": srep.as_dict()}
    finally:
        rt.close()
    os.unlink(os.path.join(dirpath, "heap.swap"))

    # ---- restore in new processes (the last dontunmap snapshot's file)
    compile_gcheap()
    lazy = [restore_child(snap, True) for _ in range(a.repeat)]
    eager = [restore_child(snap, False) for _ in range(a.repeat)]
    out["restore"] = {"lazy": lazy, "eager": eager}
    t_first = [r["first_s"] for r in lazy]
    t_runtime_import = [r["runtime_import_s"] for r in lazy]
    t_eager = [r["all_s"] for r in eager]
    md = runs["dontunmap"][-1].metadata_bytes
    os.unlink(snap)

    # ---- report
    gib = heap_bytes / GIB
    rows = []

    def row(name, measured, limit, ok):
        rows.append((name, measured, limit, "PASS" if ok else "FAIL"))

    row("pause (dontunmap, sigbus)", f"{fmt_range(pause, 1e3)} ms", "<= 1 ms", med(pause) <= 1e-3)
    row("pause (dontunmap, thread)", f"{fmt_range(pause_t, 1e3)} ms", "<= 1 ms", med(pause_t) <= 1e-3)
    ratio = med(stw_pause) / med(pause)
    row("stop-the-world write pause", f"{fmt_range(stw_pause, 1e3, 1)} ms = {ratio:.0f}x the flip",
        ">= 100x", ratio >= 100)
    row("write-protection pre-copy pause", f"{fmt_range(wp_pause, 1e3)} ms "
        f"({med([r.wp_rounds for r in runs['wp']]):.0f} rounds)", "(ablation)", True)
    frac = med(thr) / limit_bps
    row("writer throughput", f"{fmt_range([x / 1e9 for x in thr], 1, 2)} GB/s = {frac:.0%} of "
        f"min(seq write {seq_bps / 1e9:.2f}, memcpy {memcpy_bps / 1e9:.2f} GB/s)", ">= 85%", frac >= 0.85)
    for fm, raw_rt in (("sigbus", rt_sigbus), ("thread", rt_thread)):
        s = stalls[fm]
        r = s["p99_us"] / raw_rt["p99"]
        row(f"stall from staging ({fm})", f"p99 {s['p99_us']:.1f} us (p50 {s['p50_us']:.1f}) = {r:.2f}x raw p99 "
            f"{raw_rt['p99']:.1f} us ({s['served']} served)", "<= 2x", r <= 2)
    rf = med(t_first) / med(t_eager)
    row("restore: first object read (lazy)", f"{fmt_range(t_first, 1e3, 2)} ms (of which importing "
        f"gcheap.runtime {med(t_runtime_import) * 1e3:.1f} ms) = {rf:.2%} of eager {fmt_range(t_eager, 1e3, 0)} ms",
        "<= 5%", rf <= 0.05)
    sw = out["swap"]
    rr = sw["resident_after"] / sw["resident_before"]
    row("heap RSS after swap-out", f"{sw['resident_after'] / MIB:.2f} MiB of {sw['resident_before'] / MIB:.0f} MiB "
        f"= {rr:.2%} (one touch: +{(sw['after_one_touch'] - sw['resident_after']) / 1024:.0f} KiB)", "<= 5%",
        rr <= 0.05)
    mpg = md / gib / MIB
    row("file metadata", f"{md / 1024:.0f} KiB for {gib:.2f} GiB = {mpg:.3f} MiB/GiB", "<= 1 MiB/GiB", mpg <= 1)
    mem = 5 * heap_bytes / 4096 / gib / MIB
    row("page server state while writing", f"{mem:.2f} MiB/GiB (a 32-bit state + a source byte per page)",
        "(reported)", True)
    extra = med([r.peak_extra_rss for r in runs["dontunmap"]])
    row("peak extra RSS while writing", f"{extra / MIB:.1f} MiB (no mutator touching)", "(reported)", True)

    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"heap {heap_bytes / MIB:.0f} MiB live ({n} x 1 MiB arrays), files in {dirpath}, kernel "
          f"{os.uname().release}, {os.cpu_count()} cpus, median of {a.repeat} [min-max]")
    print(f"raw: memcpy {memcpy_bps / 1e9:.2f} GB/s, seq write {fmt_range([x / 1e9 for x in seq], 1, 2)} GB/s, "
          f"fault round trip sigbus p50/p99 {rt_sigbus['median']:.1f}/{rt_sigbus['p99']:.1f} us, "
          f"thread {rt_thread['median']:.1f}/{rt_thread['p99']:.1f} us")
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    out["rows"] = rows
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    if not a.dir:
        os.rmdir(dirpath)
    return 0 if all(r[3] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
