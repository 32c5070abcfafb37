"""docs/benchmarks.md from a standard suite's output, and the README's table block."""
from __future__ import annotations

import pathlib

def write_docs(out: pathlib.Path) -> list[pathlib.Path]:
    raise NotImplementedError
