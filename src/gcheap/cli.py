"""The ``gcheap`` command (also ``python -m gcheap``).

Subcommands are listed here, explicitly, in SUBCOMMANDS: each is a module with
HELP (one line), DESCRIPTION (the text of ``gcheap NAME --help``),
``configure(parser)`` and ``main(args) -> exit status``. Modules are imported
only to build the parser; none of them loads the C core at import time.
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

# name -> module (in the order --help lists them)
SUBCOMMANDS: dict[str, str] = {
    "doctor": "gcheap.kernel.doctor",
    "run": "gcheap.interp.cli",
    "bench": "gcheap.bench.cli",
    "snapshot": "gcheap.snapshot.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from gcheap import __version__
    parser.add_argument("--version", action="version", version=f"gcheap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True
    for name, module in SUBCOMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=mod.HELP, description=mod.DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.configure(p)
        p.set_defaults(func=mod.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # the CLI reports, the library raises
        print(f"gcheap {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
