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
import os
import sys

DESCRIPTION = """\
Compile PROGRAM (a .py file in the subset of Python that docs/subset.md
describes; the same file runs under CPython) and run it on a gcheap runtime:
every object it creates lives on the managed heap, moved by the collector.
Arguments after PROGRAM are the program's sys.argv[1:] (put -- before them if
they start with -).

The heap grows and shrinks with the live data up to --heap (default: a quarter
of physical memory, at most 16 GiB), so programs need no heap option.

exit status: the program's (0, or 1 after an uncaught exception, whose
traceback is on stderr); 1 for a program outside the subset (file:line:col:
what, on stderr); 2 for bad options; 3 when the runtime failed under the
program; 130 after Ctrl-C (KeyboardInterrupt in the program, which may catch
it, as under CPython)."""

EXIT_BAD_OPTIONS = 2
EXIT_FATAL = 3
EXIT_INTERRUPTED = 130


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("program", help="the program: a .py file in the gcheap Python subset")
    p.add_argument("args", nargs=argparse.REMAINDER,
                   help="the program's arguments (its sys.argv[1:]); gcheap's own options may follow them; after -- all are the program's")
    heap = p.add_argument_group("heap")
    heap.add_argument("--heap", metavar="SIZE", default=None,
                      help="maximum heap, e.g. 512M, 2G (default: a quarter of physical memory, at most 16G)")
    heap.add_argument("--heap-initial", metavar="SIZE", default=None,
                      help="the heap's first soft limit (default 8M); it then follows the live data")
    heap.add_argument("--target-utilization", metavar="U", type=float, default=None,
                      help="live / heap aimed at after each collection, 0 < U <= 1 (default 0.5)")
    gc = p.add_argument_group("collector")
    gc.add_argument("--collector", default=None, choices=["stw", "cmc"],
                    help="stw: stop-the-world mark-compact; cmc: concurrent compaction (default: cmc "
                         "where the kernel allows it, else stw; `gcheap doctor` says which and why)")
    gc.add_argument("--fault-mode", default=None, choices=["sigbus", "thread"],
                    help="cmc: who serves a mutator's fault on a page not yet compacted (default sigbus)")
    gc.add_argument("--install", default=None, choices=["auto", "copy", "move"],
                    help="cmc: how a compacted page is installed: UFFDIO_MOVE, UFFDIO_COPY, or auto (the "
                         "default): GC threads copy while the program runs and otherwise move while "
                         "moving is timed cheaper than copying, faulting mutators copy; copy "
                         "where the kernel lacks UFFDIO_MOVE")
    gc.add_argument("--gc-threads", metavar="N", type=int, default=None,
                    help="cmc: compaction threads (default 1)")
    gc.add_argument("--marking", default=None, choices=["concurrent", "pause"],
                    help="cmc: mark concurrently with a write barrier (default) or in the pause")
    gc.add_argument("--no-pacing", dest="pacing", action="store_false", default=None,
                    help="cmc: start cycles only when the heap is full, not ahead of it")
    dbg = p.add_argument_group("checking and reporting")
    dbg.add_argument("--stress", action="store_true", help="collect at every allocation (slow; finds GC bugs)")
    dbg.add_argument("--verify", action="store_true", help="verify the whole heap before and after every collection")
    dbg.add_argument("--gc-checks", metavar="CHECKS", default=None,
                     help="cmc: verify concurrent marking at each remark: checkmark, barrier, or both "
                          "(comma-separated; slow)")
    dbg.add_argument("--gc-stress-delay", metavar="US", type=int, default=None,
                     help="cmc: inject random delays up to US microseconds between phases, in the "
                          "barrier and in the marker (finds races)")
    dbg.add_argument("--stats", action="store_true", help="print a pause summary to stderr after the run")
    dbg.add_argument("--stats-json", metavar="FILE", help="write the run's statistics and pause log as JSON")
    dbg.add_argument("--trace", metavar="FILE",
                     help="write the run's timeline (pauses, GC threads, RSS) as Chrome trace-event JSON for Perfetto UI")
    p.set_defaults(_parser=p)


def pause_summary(pauses, cmc_pages: dict | None = None) -> dict:
    from gcheap.metrics import summary
    s = summary(p.pause_s * 1000.0 for p in pauses)
    return {
        "count": s["count"], "p50_ms": s["p50"], "p90_ms": s["p90"], "p99_ms": s["p99"],
        "p99.9_ms": s["p99.9"], "max_ms": s["max"], "total_ms": s["total"], "mean_ms": s["mean"],
        # stw builds every page inside the pause; cmc builds pages concurrently, by GC
        # threads or by mutators that fault on them: totals over every cycle of the run.
        "cmc_pages": cmc_pages,
    }


def format_summary(collector: str, s: dict, result) -> str:
    c = s["cmc_pages"]
    pages = "all built in the pause (stop-the-world)" if c is None else \
        f"{c['cycles']} cycles, {c['pages_by_gc']} built by GC, {c['pages_by_mutator']} by mutators"
    return (f"gcheap run [{collector}]: {s['count']} pauses, p50 {s['p50_ms']:.3f} ms, "
            f"p99 {s['p99_ms']:.3f} ms, longest {s['max_ms']:.3f} ms, total {s['total_ms']:.3f} ms; "
            f"pages: {pages}; wall {result.wall_s:.3f} s, {result.polls} loop iterations and calls, "
            f"{result.allocations} allocations")



def _split_args(args: argparse.Namespace) -> None:
    """Moves gcheap's own options out of the program's arguments (up to a `--`)
    and parses them with the same parser (types, choices, errors).

    argparse drops the first `--` after the program: when the command line had
    one there, every argument is the program's."""
    parser = args._parser
    rest = list(args.args)
    argv = sys.argv
    if args.program in argv:
        at = argv.index(args.program)
        if at + 1 < len(argv) and argv[at + 1] == "--":
            return
    own: list[str] = []
    prog: list[str] = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--":
            prog.extend(rest[i + 1:])
            break
        name, eq, _ = a.partition("=")
        action = parser._option_string_actions.get(name) if name.startswith("--") else None
        if action is None or name == "--help":
            prog.append(a)
            i += 1
            continue
        own.append(a)
        if action.nargs != 0 and not eq:
            if i + 1 >= len(rest):
                raise ValueError(f"{name} needs a value")
            own.append(rest[i + 1])
            i += 1
        i += 1
    if own:
        parsed = parser.parse_args([*own, args.program])
        for tok in own:
            action = parser._option_string_actions.get(tok.partition("=")[0])
            if action is not None:
                setattr(args, action.dest, getattr(parsed, action.dest))
    args.args = prog


def main(args: argparse.Namespace) -> int:
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
    for name in ("heap_initial", "target_utilization"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.stress:
        options["stress"] = True
    if args.verify:
        options["verify"] = True
    if args.gc_checks is not None:
        args.checks = tuple(c.strip() for c in args.gc_checks.split(",") if c.strip())
    else:
        args.checks = None
    args.stress_delay_us = args.gc_stress_delay
    for name in ("fault_mode", "install", "gc_threads", "marking", "pacing", "checks", "stress_delay_us"):
        value = getattr(args, name)
        if value is not None:
            if args.collector == "stw":
                flag = {"checks": "--gc-checks", "stress_delay_us": "--gc-stress-delay",
                        "pacing": "--no-pacing"}.get(name, "--" + name.replace("_", "-"))
                print(f"gcheap run: {flag} is an option of collector cmc, not stw", file=sys.stderr)
                return EXIT_BAD_OPTIONS
            options[name] = value
    try:
        if args.trace:
            from gcheap.interp.run import traced_run_file
            result = traced_run_file(args.trace, args.program, args.args, **options)
        else:
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
    if args.stats or args.stats_json:   # (gcheap.metrics loads numpy: only when asked for)
        _report(args, result)
    if result.status == "fatal":
        print(f"gcheap run: the runtime failed: {result.message}", file=sys.stderr)
        return EXIT_FATAL
    return result.exit_status


def _report(args: argparse.Namespace, result) -> None:
    """--stats and --stats-json: the pause summary and the MMU, from the run's pause log."""
    summary = pause_summary(result.pauses, result.cmc_pages)
    if result.pauses:       # minimum mutator utilisation over the run, from the pause log
        from gcheap.metrics import mmu
        rel = [p.start_s - result.start_s for p in result.pauses]
        total = max(result.wall_s, rel[-1] + result.pauses[-1].pause_s)
        summary["mmu"] = {w: mmu(rel, [p.pause_s for p in result.pauses], total, w) for w in (0.001, 0.01, 0.1)}
    if args.stats:
        if result.collector_fallback:
            print(f"gcheap run: collector stw: concurrent compaction cannot run here: {result.collector_fallback}",
                  file=sys.stderr)
        print(format_summary(result.collector, summary, result), file=sys.stderr)
    if args.stats_json:
        with open(args.stats_json, "w") as f:
            import json      # only with --stats-json: start-up imports only what a run needs
            json.dump({"program": args.program, "args": args.args, "collector": result.collector,
                       "collector_fallback": result.collector_fallback,
                       "heap": args.heap, "status": result.status, "wall_s": result.wall_s,
                       "start_s": result.start_s,
                       "polls": result.polls, "allocations": result.allocations,
                       "pauses": summary, "longest_pause_ms": summary["max_ms"],
                       "pause_log": [p.as_dict() for p in result.pauses],
                       "cycles": result.cycles}, f, indent=2)
