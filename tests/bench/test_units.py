"""Units of work in the bundled programs: one canonical Units class, the same
units under CPython and gcheap, nothing extra printed without --units."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from gcheap.bench.units import UNITS_SOURCE, deterministic_output, parse_units
from gcheap.interp.run import run_file

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
SMALL = {"gcbench": ["6"], "binarytrees": ["6"], "splay": ["1", "200"], "message_window": ["1000"],
         "fragmentation": ["1"]}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_program_carries_the_canonical_units_class(name):
    assert UNITS_SOURCE in (EXAMPLES / f"{name}.py").read_text(), \
        f"examples/{name}.py: its Units class differs from gcheap.bench.units.UNITS_SOURCE"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_units_under_cpython_and_gcheap(name, tmp_path):
    path = str(EXAMPLES / f"{name}.py")
    plain = subprocess.run([sys.executable, path, *SMALL[name]], capture_output=True, text=True, check=True).stdout
    assert "#time unit" not in plain
    cp = subprocess.run([sys.executable, path, *SMALL[name], "--units"], capture_output=True, text=True,
                        check=True).stdout
    out = tmp_path / "out"
    with open(out, "w") as f:
        res = run_file(path, [*SMALL[name], "--units"], heap_size="32M", stdout_fd=f.fileno())
    assert res.status == "ok"
    s1, e1, other1 = parse_units(cp)
    s2, e2, other2 = parse_units(out.read_text())
    assert len(s1) == len(s2) > 0
    assert all(a <= b for a, b in zip(s2, e2)) and s2 == sorted(s2)
    assert deterministic_output(other1) == deterministic_output(other2) == deterministic_output(plain.splitlines())
