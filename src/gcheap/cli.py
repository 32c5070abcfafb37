"""The ``gcheap`` command. Subcommands register themselves in COMMANDS, so later
issues add ``gcheap run`` etc. next to ``gcheap doctor``.

Exit codes of ``gcheap doctor``: 0 when the concurrent compactor can run here,
2 when it cannot (the remedy is printed), 1 for an unexpected error.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_UNSUPPORTED = 2

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    """Decorator: registers ``fn(args) -> exit code`` as ``gcheap <name>``."""
    def wrap(fn: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = (help, configure, fn)
        return fn
    return wrap


def _doctor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the capability report as JSON")


def _yes(v: bool) -> str:
    return "yes" if v else "NO"


def doctor_table(caps) -> str:
    rows = [
        ("kernel", caps.kernel),
        ("page size", str(caps.page_size)),
        ("userfaultfd", _yes(caps.uffd_available) + (f" (via {caps.uffd_via})" if caps.uffd_via else "")),
        ("  routes", ", ".join(f"{k}={v}" for k, v in caps.routes.items())),
    ]
    if caps.uffd_error:
        rows.append(("  error", caps.uffd_error))
    rows += [
        ("  sigbus mode", _yes("sigbus" in caps.features)),
        ("  move", _yes("move" in caps.features)),
        ("  features", " ".join(sorted(caps.features)) or "-"),
        ("mremap DONTUNMAP", _yes(caps.mremap_dontunmap)),
        ("transparent hugepages", caps.thp or "unknown"),
        ("vm.unprivileged_userfaultfd", "unknown" if caps.unprivileged_userfaultfd is None
         else str(caps.unprivileged_userfaultfd)),
        ("CAP_SYS_PTRACE", _yes(caps.cap_sys_ptrace).lower()),
        ("seccomp", {"0": "off", "1": "strict", "2": "filter"}.get(caps.seccomp or "", "unknown")),
        ("concurrent compaction", _yes(caps.concurrent_compaction)),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    for note in caps.notes:
        lines.append(f"note: {note}")
    if caps.remedy:
        lines.append(f"remedy: {caps.remedy}")
    return "\n".join(lines)


@command("doctor", "report what this kernel allows and what to do if something is missing", _doctor_args)
def doctor(args: argparse.Namespace) -> int:
    from gcheap.kernel import probe

    caps = probe()
    if args.json:
        print(json.dumps(caps.as_dict(), indent=2, sort_keys=True))
    else:
        print(doctor_table(caps))
    return EXIT_OK if caps.concurrent_compaction else EXIT_UNSUPPORTED


import gcheap.interp.cli  # noqa: E402,F401  (registers `gcheap run`)
import gcheap.bench.cli  # noqa: E402,F401  (registers `gcheap bench`)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gcheap", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (help, configure, fn) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        configure(p)
        p.set_defaults(func=fn)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:  # the CLI reports, the library raises
        print(f"gcheap {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
