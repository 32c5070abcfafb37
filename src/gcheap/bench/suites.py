"""Named suites of `gcheap bench` (what the old bench/*.py scripts measured):

    default   the five GC workloads x stw, cmc x 2x, 3x, 6x of the minimum heap x 3 repeats
    cmc       flip vs stw pause (half_live, 64M..1G), the stw pause and its phases
              (fragmented), compaction throughput (install copy/move), fault stalls
              (sigbus/thread, GC workers held back)
    interp    GCBench, binary-trees, Splay under gcheap (stw, cmc) and CPython
    raw       the raw costs of the kernel primitives (gcheap.rawcost)
    standard  raw, then default, cmc and interp: `make bench`; then writes
              docs/benchmarks.md and the README's table block (gcheap.bench.docs)

Each part writes into DIR/<part>/ (the sweep files and report.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import subprocess
import sys
from typing import Callable

from gcheap.bench import workloads
from gcheap.bench.sweep import HeapSize, Sweep, parse_configs, parse_heaps


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    description: str
    sweeps: Callable[[argparse.Namespace, pathlib.Path], list[Sweep]]


def _w(*names: str, small: bool) -> list:
    return [workloads.resolve(n, small=small) for n in names]


def _common(args, out: pathlib.Path, **kw) -> dict:
    return dict(out=out, timeout_s=args.timeout, cache_path=pathlib.Path(args.cache) if args.cache else None,
                trace=not args.no_trace, argv=["--suite", args.suite], **kw)


def _default(args, out):
    return [Sweep(workloads=_w(*workloads.DEFAULT, small=args.small), configs=parse_configs("stw,cmc", []),
                  heaps=parse_heaps("2x,3x,6x"), repeat=args.repeat, **_common(args, out / "default"))]


def _cmc(args, out):
    sizes = "16M,32M" if args.small else "64M,256M,1G"
    one = "16M" if args.small else "256M"
    return [
        Sweep(workloads=_w("half_live", "fragmented", small=args.small), configs=parse_configs("stw,cmc", []),
              heaps=parse_heaps(sizes), repeat=args.repeat, **_common(args, out / "cmc-pause")),
        Sweep(workloads=_w("compaction", small=args.small), configs=parse_configs("cmc", ["install=copy,move"]),
              heaps=parse_heaps(one), repeat=args.repeat, **_common(args, out / "cmc-throughput")),
        Sweep(workloads=_w("fault_stalls", small=args.small),
              configs=parse_configs("cmc", ["fault_mode=sigbus,thread", "worker_delay_us=400000"]),
              heaps=[HeapSize(nbytes=32 << 20)], repeat=args.repeat, **_common(args, out / "cmc-stalls")),
    ]


def _interp(args, out):
    names = ("gcbench:5", "binarytrees:8", "splay:2,500") if args.small else ("gcbench:0", "binarytrees:16", "splay:50,8000")
    return [Sweep(workloads=_w(*names, small=args.small), configs=parse_configs("stw,cmc,cpython", []),
                  heaps=parse_heaps("3x"), repeat=args.repeat, **_common(args, out / "interp"))]


def _raw(args, out) -> list[Sweep]:
    return []


SUITES = {
    "default": Suite("default", "five GC workloads x stw, cmc x 2x, 3x, 6x x repeats", _default),
    "cmc": Suite("cmc", "flip vs stw pause, stw phases, compaction throughput, fault stalls", _cmc),
    "interp": Suite("interp", "interpreter vs CPython on GCBench, binary-trees, Splay", _interp),
    "raw": Suite("raw", "raw costs of the kernel primitives", _raw),
    "standard": Suite("standard", "raw, default, cmc and interp (make bench); writes docs/benchmarks.md and the README block",
                      lambda a, o: []),
}
ORDER = {"standard": ("raw", "default", "cmc", "interp")}


def run_raw(args, out: pathlib.Path) -> dict:
    """Raw costs in a process of their own: out/raw/raw_costs.json and .md."""
    d = out / "raw"
    d.mkdir(parents=True, exist_ok=True)
    scale = "0.1" if args.small else "1"
    code = ("import json, sys; from gcheap.kernel import rawcost; r = rawcost.measure(scale=float(sys.argv[1])); "
            "print(json.dumps(r))")
    r = subprocess.run([sys.executable, "-c", code, scale], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"raw costs failed: {r.stderr.strip().splitlines()[-1:]}")
    report = json.loads(r.stdout)
    (d / "raw_costs.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    from gcheap.kernel import rawcost
    (d / "report.md").write_text("# Raw costs of the kernel primitives\n\n```\n" + rawcost.table(report) + "\n```\n")
    print(rawcost.table(report))
    return report


def run_suite(args: argparse.Namespace) -> int:
    from gcheap.bench.cli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, finish
    from gcheap.bench.executors import make_executor

    if args.suite not in SUITES:
        print(f"gcheap bench: unknown suite {args.suite!r} (known: {', '.join(SUITES)})", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = pathlib.Path(args.out)
    names = ORDER.get(args.suite, (args.suite,))
    status = 0
    for name in names:
        if name == "raw":
            try:
                run_raw(args, out)
            except KeyboardInterrupt:
                return EXIT_INTERRUPTED
            continue
        for sw in SUITES[name].sweeps(args, out):
            sw.validate()
            rc = finish(sw, make_executor(args.executor), progress=not args.no_progress)
            if rc == EXIT_INTERRUPTED:
                return rc
            status = max(status, rc)
    if args.suite == "standard":
        from gcheap.bench.docs import write_docs
        print(f"wrote {', '.join(str(p) for p in write_docs(out))}")
    return status
