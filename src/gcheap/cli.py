"""The ``gcheap`` command (also ``python -m gcheap``).

Subcommands are listed here, explicitly, in SUBCOMMANDS: each is a module with
DESCRIPTION (the text of ``gcheap NAME --help``), ``configure(parser)`` and
``main(args) -> exit status``; its one-line help is here. Only the module of the
subcommand being run is imported (``gcheap --help`` imports none): a
``gcheap run`` starts without loading what ``bench`` or ``snapshot`` need.
"""
from __future__ import annotations

import argparse
import importlib
import sys

EXIT_ERROR = 1

PROG = "gcheap"
DESCRIPTION = """\
gcheap: a managed heap whose concurrent compactor moves pages with
mremap(MREMAP_DONTUNMAP) and userfaultfd, with a stop-the-world baseline and a
Python-subset interpreter whose every object lives on that heap."""
EPILOG = """\
examples:
  gcheap doctor                        can this machine run the concurrent compactor?
  gcheap run examples/splay.py         run a program (CPython-compatible subset)
  gcheap run --collector cmc --stats examples/gcbench.py
  gcheap bench splay --collector stw,cmc --out results   pause-time benchmarks
  gcheap snapshot inspect heap.snap    what a heap snapshot file holds, checksums verified
  gcheap NAME --help                   the options of one subcommand"""

# name -> (module, one-line help), in the order --help lists them
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("gcheap.kernel.doctor",
               "report what this kernel allows (userfaultfd, its features, MREMAP_DONTUNMAP) and how to fix what is missing"),
    "run": ("gcheap.interp.cli",
            "run a Python program (the CPython-compatible subset of docs/subset.md) on the managed heap"),
    "bench": ("gcheap.bench.cli",
              "pause-time benchmarks and experiments: sweeps over workloads, collectors and heaps; MMU, latency, traces, plots"),
    "snapshot": ("gcheap.snapshot.cli",
                 "inspect a heap snapshot or swap file: header, sizes, classes, roots, checksums"),
}


def _chosen(argv: list[str]) -> str | None:
    """The subcommand argv names (its first word that is not an option), if any."""
    for a in argv:
        if not a.startswith("-"):
            return a if a in SUBCOMMANDS else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with argv, only the subcommand it names is configured (the others
    are listed with their help but take no options: they are never run)."""
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from gcheap import __version__
    parser.add_argument("--version", action="version", version=f"gcheap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True
    chosen = _chosen(argv) if argv is not None else None
    for name, (module, help_) in SUBCOMMANDS.items():
        if argv is not None and name != chosen:
            sub.add_parser(name, help=help_)
            continue
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_, description=mod.DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.configure(p)
        p.set_defaults(func=mod.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # the CLI reports, the library raises
        print(f"gcheap {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
