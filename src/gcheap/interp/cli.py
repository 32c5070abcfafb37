"""`gcheap run PROGRAM.py [ARGS...]`: run a subset program on the managed heap.

Everything after PROGRAM.py is the program's (sys.argv[1:]), except gcheap's own
options (--heap, --collector, ...), which may also follow the program's arguments;
after a `--` everything is the program's.

Exit status: the program's (0, or 1 after an uncaught exception, whose traceback is
on stderr; SystemExit's code); 1 for a program outside the subset (`file:line:col: what` on stderr);
2 for bad options; 3 when the runtime itself failed under the program; 130 after
Ctrl-C (SIGINT raises KeyboardInterrupt in the program at its next safepoint poll;
a program may catch it, as under CPython).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys

from gcheap.cli import command

EXIT_BAD_OPTIONS = 2
EXIT_FATAL = 3
EXIT_INTERRUPTED = 130


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("program", help="a .py file in the gcheap Python subset")
    p.add_argument("args", nargs=argparse.REMAINDER,
                   help="arguments for the program (sys.argv[1:]); after -- all of them are the program's")
    p.add_argument("--heap", default="64M", help="heap size, e.g. 32M, 1G (default 64M)")
    p.add_argument("--collector", default="stw", help="stw or cmc (default stw)")
    p.add_argument("--fault-mode", default=None, help="cmc: how faults are served")
    p.add_argument("--install", default=None, help="cmc: how pages are installed")
    p.add_argument("--gc-threads", type=int, default=None, help="cmc: collector threads")
    p.add_argument("--stress", action="store_true", help="collect at every allocation")
    p.add_argument("--verify", action="store_true", help="verify the heap around every collection")
    p.add_argument("--stats", action="store_true", help="print a pause summary to stderr after the run")
    p.add_argument("--stats-json", metavar="FILE", help="write the run's statistics as JSON")


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[k]


def pause_summary(pauses, cmc_pages: dict | None = None) -> dict:
    ms = sorted(p.pause_s * 1000.0 for p in pauses)
    return {
        "count": len(ms), "p50_ms": _percentile(ms, 0.50), "p90_ms": _percentile(ms, 0.90),
        "p99_ms": _percentile(ms, 0.99), "max_ms": ms[-1] if ms else 0.0,
        "total_ms": sum(ms), "mean_ms": statistics.fmean(ms) if ms else 0.0,
        # stw builds every page inside the pause; cmc builds pages concurrently, by GC
        # threads or by mutators that fault on them: totals over every cycle of the run.
        "cmc_pages": cmc_pages,
    }


def format_summary(collector: str, s: dict, result) -> str:
    c = s["cmc_pages"]
    pages = "all built in the pause (stop-the-world)" if c is None else \
        f"{c['cycles']} cycles, {c['pages_by_gc']} built by GC, {c['pages_by_mutator']} by mutators"
    return (f"gcheap run [{collector}]: {s['count']} pauses, p50 {s['p50_ms']:.3f} ms, "
            f"p99 {s['p99_ms']:.3f} ms, max {s['max_ms']:.3f} ms, total {s['total_ms']:.3f} ms; "
            f"pages: {pages}; wall {result.wall_s:.3f} s, {result.polls} loop iterations and calls, "
            f"{result.allocations} allocations")


# gcheap's options that may follow the program's arguments: name -> takes a value
_OWN = {"--heap": True, "--collector": True, "--fault-mode": True, "--install": True,
        "--gc-threads": True, "--stress": False, "--verify": False, "--stats": False,
        "--stats-json": True}


def _split_args(args: argparse.Namespace) -> None:
    """Moves gcheap's own options out of the program's arguments (up to a `--`).

    argparse drops the first `--` after the program: when the command line had
    one there, every argument is the program's."""
    rest = list(args.args)
    argv = sys.argv
    if args.program in argv:
        at = argv.index(args.program)
        if at + 1 < len(argv) and argv[at + 1] == "--":
            return
    prog: list[str] = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--":
            prog.extend(rest[i + 1:])
            break
        name, eq, value = a.partition("=")
        if name in _OWN:
            dest = name[2:].replace("-", "_")
            if _OWN[name]:
                if not eq:
                    if i + 1 >= len(rest):
                        raise ValueError(f"{name} needs a value")
                    value = rest[i + 1]
                    i += 1
                if dest == "gc_threads":
                    value = int(value)
                setattr(args, dest, value)
            else:
                setattr(args, dest, True)
            i += 1
            continue
        prog.append(a)
        i += 1
    args.args = prog


@command("run", "run a Python-subset program on the managed heap", _configure)
def run(args: argparse.Namespace) -> int:
    from gcheap.errors import GCHeapError, InvalidOption, SubsetError
    # The runtime's Python side imports numpy, whose OpenBLAS starts a thread per
    # core that spins after start-up; a program run uses no BLAS: one thread.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # The process only starts the VM and reports: CPython's cycle collector would
    # rescan the modules it imports (numpy's among them) for nothing.
    gc.disable()
    from gcheap.interp.run import run_file

    try:
        _split_args(args)
    except ValueError as e:
        print(f"gcheap run: {e}", file=sys.stderr)
        return EXIT_BAD_OPTIONS
    options = {"heap_size": args.heap, "collector": args.collector}
    if args.stress:
        options["stress"] = True
    if args.verify:
        options["verify"] = True
    for name in ("fault_mode", "install", "gc_threads"):
        value = getattr(args, name)
        if value is not None:
            if args.collector != "cmc":
                print(f"gcheap run: --{name.replace('_', '-')} needs --collector cmc", file=sys.stderr)
                return EXIT_BAD_OPTIONS
            options[name] = value
    try:
        result = run_file(args.program, args.args, **options)
    except KeyboardInterrupt:
        # Ctrl-C not caught by the program (its traceback is printed), or during
        # compilation: the shell's convention for death by SIGINT
        return EXIT_INTERRUPTED
    except SubsetError as e:
        print(str(e), file=sys.stderr)
        return 1
    except (InvalidOption, ValueError, TypeError) as e:
        print(f"gcheap run: {e}", file=sys.stderr)
        return EXIT_BAD_OPTIONS
    except OSError as e:
        print(f"gcheap run: {e}", file=sys.stderr)
        return 1
    except GCHeapError as e:
        print(f"gcheap run: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FATAL
    summary = pause_summary(result.pauses, result.cmc_pages)
    if args.stats:
        print(format_summary(args.collector, summary, result), file=sys.stderr)
    if args.stats_json:
        with open(args.stats_json, "w") as f:
            json.dump({"program": args.program, "args": args.args, "collector": args.collector,
                       "heap": args.heap, "status": result.status, "wall_s": result.wall_s,
                       "polls": result.polls, "allocations": result.allocations,
                       "pauses": summary,
                       "pause_log": [p.as_dict() for p in result.pauses]}, f, indent=2)
    if result.status == "fatal":
        print(f"gcheap run: the runtime failed: {result.message}", file=sys.stderr)
        return EXIT_FATAL
    return result.exit_status
