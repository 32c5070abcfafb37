"""`gcheap doctor`: what this kernel and process allow, and what to do if something
is missing.

Exit status: 0 when the concurrent compactor can run here, 2 when it cannot (the
remedy is printed), 1 for an unexpected error.
"""
from __future__ import annotations

import argparse
import json

DESCRIPTION = """\
Probe this kernel and process for what the concurrent compactor needs:
userfaultfd (and how it can be opened), its features (SIGBUS mode, MOVE, ...),
mremap(MREMAP_DONTUNMAP), transparent huge pages, the vm.unprivileged_userfaultfd
sysctl, CAP_SYS_PTRACE and seccomp. When something is missing, say why and how
to fix it.

exit status: 0 concurrent compaction works here; 2 it does not (remedy printed);
1 an unexpected error."""

EXIT_OK = 0
EXIT_UNSUPPORTED = 2


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the capability report as JSON")


def _yes(v: bool) -> str:
    return "yes" if v else "NO"


def default_collector(caps) -> str:
    """What Runtime() and `gcheap run` use here when no collector is named."""
    return "cmc" if caps.concurrent_compaction else "stw"


_DEFAULT_WHY = {"cmc": "cmc (concurrent compaction)",
                "stw": "stw (stop-the-world: concurrent compaction cannot run here)"}


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
        ("default collector", _DEFAULT_WHY[default_collector(caps)]),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    for note in caps.notes:
        lines.append(f"note: {note}")
    if caps.remedy:
        lines.append(f"remedy: {caps.remedy}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from gcheap.kernel import probe

    caps = probe()
    if args.json:
        print(json.dumps({**caps.as_dict(), "default_collector": default_collector(caps)}, indent=2, sort_keys=True))
    else:
        print(doctor_table(caps))
    return EXIT_OK if caps.concurrent_compaction else EXIT_UNSUPPORTED
