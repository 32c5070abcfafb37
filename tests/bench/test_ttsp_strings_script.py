"""bench/ttsp_strings.py runs end to end on small strings (its figures are for
docs/interpreter.md; this only keeps the script from rotting)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.uffd
def test_ttsp_strings_bench_runs_small():
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "ttsp_strings.py"), "--mib", "2", "--seconds", "0.2",
                        "--every-ms", "20", "rfind", "rsplit-ws"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert [ln.split(":")[0].strip() for ln in lines] == ["rfind", "rsplit-ws"]
    assert all("pauses, longest safepoint wait" in ln for ln in lines)
    bad = subprocess.run([sys.executable, str(ROOT / "bench" / "ttsp_strings.py"), "nope"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown operation(s) nope" in bad.stderr
