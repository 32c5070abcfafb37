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
