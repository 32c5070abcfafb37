"""`make demo`'s scripts, run as the Makefile runs them: each must finish with
status 0 and print what it promises (they once broke silently when a report's
fields changed)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.uffd


def run(*args: str) -> str:
    p = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def test_kernel_demo():
    out = run("examples/demo.py")
    assert "done: every page came back with its content" in out


def test_stw_vs_cmc():
    out = run("examples/stw_vs_cmc.py")
    assert "stw: pause" in out and "cmc: pauses" in out
    assert "longest pause is" in out and "fell back" not in out


def test_interp_demo():
    out = run("bench/interp_demo.py")
    assert "output identical across collectors: yes" in out and "pages gc/mutator" in out
