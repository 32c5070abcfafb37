"""Running a program under CPython and under `gcheap run`, for the differential tests."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

from programs import ROOT

GCHEAP = [sys.executable, "-c", "import sys; from gcheap.cli import main; sys.exit(main())", "run"]


def cpython(path, args=(), timeout=120):
    return subprocess.run([sys.executable, str(path), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def gcheap(path, args=(), options=(), timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([*GCHEAP, *options, str(path), "--", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)


# Collector configurations of the differential tests: stw, and the concurrent
# compactor in each fault mode (plus the MOVE install).
COLLECTOR_OPTIONS = {
    "stw": ["--collector", "stw", "--heap", "16M"],
    "cmc-sigbus": ["--collector", "cmc", "--fault-mode", "sigbus", "--heap", "4M"],
    "cmc-thread": ["--collector", "cmc", "--fault-mode", "thread", "--heap", "4M"],
    "cmc-sigbus-move": ["--collector", "cmc", "--fault-mode", "sigbus", "--install", "move",
                        "--heap", "4M"],
}
_NEEDS = {"cmc-sigbus": ["sigbus"], "cmc-thread": [], "cmc-sigbus-move": ["sigbus", "move"]}


def require_collector(name: str) -> None:
    """Skips (or, under GCHEAP_REQUIRE_UFFD=1, fails) when the kernel cannot run this
    collector configuration concurrently; stw always runs."""
    import pytest

    if name == "stw":
        return
    from gcheap.kernel import probe
    caps = probe()
    missing = []
    if not caps.uffd_available:
        missing.append(f"userfaultfd ({caps.uffd_error})")
    if not caps.mremap_dontunmap:
        missing.append("mremap(MREMAP_DONTUNMAP)")
    missing += [f"userfaultfd feature {f}" for f in _NEEDS[name] if f not in caps.features]
    if missing:
        reason = f"{name} needs " + ", ".join(missing)
        if os.environ.get("GCHEAP_REQUIRE_UFFD") == "1":
            pytest.fail(f"GCHEAP_REQUIRE_UFFD=1 but {reason}", pytrace=False)
        pytest.skip(reason)
