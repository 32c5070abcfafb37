"""bench/concurrent_mark.py runs end to end on small heaps (its figures are for
docs/cmc.md; this only keeps the script from rotting, as flip_reservation.py once did)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.uffd("move")
def test_concurrent_mark_bench_runs_small():
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "concurrent_mark.py"), "--heaps", "32M,64M",
                        "--repeat", "1", "--run-pages", "32", "--install-heap", "32M", "--splay-runs", "1", "--splay-args", "3,2"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "longest pause 64M / 32M:" in out and "run_pages=32: longest pause" in out
    assert "per entry" in out
    for name in ("move", "copy", "auto"):
        assert f"{name:>5}: no mutator: GC CPU" in out
    assert "pages copied" in out
    for runs in ("3", "2"):
        assert f"== 4. Splay ({runs} runs of 80 modifications), 1 run each" in out
    assert out.count("RMS cmc / no collection:") == 2
