"""`gcheap bench`: pause-time benchmarks and experiments as one command (docs/bench.md).

Exit status: 0 when the sweep ran (runs that failed are recorded with their
status), 1 when no run completed, 2 for bad input (one line on stderr), 130
after Ctrl-C (the results gathered so far are written).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys

DESCRIPTION = """\
Run workloads under collectors, collector options and heap sizes (their cross
product, one process per run, repeated), and write into --out: results.json
(every run's raw pause log and metrics), results.csv, traces/ (Chrome
trace-event JSON for Perfetto UI) and report.md with plots. --compare prints
the ratios between two results.json files. docs/bench.md has the details.

exit status: 0 when the sweep ran (runs that failed are recorded with their
status); 1 when no run completed; 2 for bad input; 130 after Ctrl-C (the
results gathered so far are written)."""

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def configure(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = ("WORKLOAD: a bundled workload (gcbench, binarytrees, splay, message_window, fragmentation; "
                "Python API: half_live, fragmented, compaction, fault_stalls), NAME:ARG,ARG to give it "
                "arguments, or the path of a program in the gcheap Python subset.\n"
                "Suites: --suite default | standard | raw | interp | cmc (docs/bench.md).\n"
                "Examples:\n"
                "  gcheap bench                                  the default sweep into bench-out/\n"
                "  gcheap bench splay --collector cmc --opt fault_mode=sigbus,thread --heap 2x,4x\n"
                "  gcheap bench --compare old/results.json new/results.json")
    p.add_argument("workloads", nargs="*", metavar="WORKLOAD", help="what to run (default: the five GC workloads)")
    p.add_argument("--collector", default="stw,cmc", help="collectors, comma-separated: stw, cmc (default stw,cmc)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=V1,V2",
                   help="a cmc option and its values; several --opt give their cross product")
    p.add_argument("--heap", default="2x,3x,6x",
                   help="heap sizes: multiples of the minimum heap (2x) or sizes (64M); default 2x,3x,6x")
    p.add_argument("--repeat", type=int, default=3, help="runs per configuration (default 3)")
    p.add_argument("--cpython", action="store_true", help="also run the programs under this CPython")
    p.add_argument("--out", default="bench-out", metavar="DIR", help="output directory (default bench-out)")
    p.add_argument("--executor", default="local", metavar="local|dask://HOST:PORT",
                   help="where runs execute (default local, one at a time)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S", help="per-run timeout in seconds (default 600)")
    p.add_argument("--small", action="store_true", help="the workloads' seconds-long sizes (smoke runs)")
    p.add_argument("--suite", default=None, help="a named suite instead of WORKLOADS (see docs/bench.md)")
    p.add_argument("--no-trace", action="store_true", help="do not write traces/")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--cache", default=None, metavar="FILE",
                   help="minimum-heap cache (default ~/.cache/gcheap/minheap.json)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two results.json files and exit")
    p.add_argument("--list", action="store_true", help="list the bundled workloads and suites and exit")


def _bad(msg: str) -> int:
    print(f"gcheap bench: {msg}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(args: argparse.Namespace) -> int:
    try:
        return _bench(args)
    except BrokenPipeError:                     # `gcheap bench --compare A B | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _bench(args: argparse.Namespace) -> int:
    from gcheap.bench import results, suites, workloads
    from gcheap.bench.executors import make_executor
    from gcheap.bench.sweep import Sweep, parse_configs, parse_heaps
    from gcheap.errors import InvalidOption

    if args.list:
        for name, w in workloads.BUNDLED.items():
            print(f"{name:<16} {w.kind:<8} {' '.join(w.args):<12} {w.description}")
        for name, s in suites.SUITES.items():
            print(f"suite {name:<10} {s.description}")
        return 0
    if args.compare:
        from gcheap.bench.compare import compare, format_rows
        try:
            a, b = (results.load(p) for p in args.compare)
        except results.BadResults as e:
            return _bad(str(e))
        print(format_rows(compare(a, b), *args.compare))
        return 0
    try:
        if args.suite:
            if args.workloads:
                return _bad("give either --suite or WORKLOADs, not both")
            return suites.run_suite(args)
        names = args.workloads or list(workloads.DEFAULT)
        wl = [workloads.resolve(n, small=args.small) for n in names]
        collectors = args.collector + (",cpython" if args.cpython else "")
        sw = Sweep(workloads=wl, configs=parse_configs(collectors, args.opt), heaps=parse_heaps(args.heap),
                   repeat=args.repeat, out=pathlib.Path(args.out), timeout_s=args.timeout,
                   cache_path=pathlib.Path(args.cache) if args.cache else None, trace=not args.no_trace,
                   argv=sys.argv[2:] if len(sys.argv) > 2 and sys.argv[1] == "bench" else [])
        sw.validate()
        executor = make_executor(args.executor)
    except InvalidOption as e:
        return _bad(str(e))
    return finish(sw, executor, progress=not args.no_progress)


def finish(sw, executor, progress: bool = True) -> int:
    """Runs a sweep, writes its report and prints the summary; the exit status."""
    from gcheap.bench.report import write_report
    from gcheap.bench.sweep import dumps_summary, run_sweep
    try:
        doc = run_sweep(sw, executor, progress=progress)
    except OSError as e:
        return _bad(f"cannot write into {sw.out}: {e.strerror or e}")
    finally:
        executor.close()
    report = write_report(doc, sw.out)
    print(dumps_summary(doc))
    print(f"wrote {sw.out / 'results.json'}, {sw.out / 'results.csv'}, {report}"
          + (f", {sw.out / 'traces'}/" if sw.trace else ""))
    if doc["sweep"]["interrupted"]:
        print(f"gcheap bench: interrupted; {len(doc['runs'])} runs gathered and written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0 if any(r["status"] == "ok" for r in doc["runs"]) or not doc["runs"] else 1
