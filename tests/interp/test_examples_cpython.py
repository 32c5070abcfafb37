"""The examples are plain Python: CPython runs every one of them unchanged (scaled down).

These tests pin what the differential tests rely on: CPython is the oracle, so its
output must be deterministic apart from lines starting with #time / #heap.
"""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

# Each example with arguments that make it finish in well under a second.
SCALED = {
    "binarytrees.py": ["6"],
    "gcbench.py": ["8"],
    "splay.py": ["2", "200"],
    "message_window.py": ["2000"],
    "fragmentation.py": ["1"],
    "nbody.py": ["100"],
    "wordfreq.py": ["500"],
}

BINARYTREES_10 = """\
stretch tree of depth 11 check: 4095
1024 trees of depth 4 check: 31744
256 trees of depth 6 check: 32512
64 trees of depth 8 check: 32704
16 trees of depth 10 check: 32752
long lived tree of depth 10 check: 2047
"""


def run_cpython(name, args):
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args],
                          capture_output=True, text=True, timeout=120)


def deterministic(out):
    return [ln for ln in out.splitlines() if not ln.startswith(("#time", "#heap"))]


def test_every_example_program_has_a_scaled_run():
    from programs import EXAMPLE_PROGRAMS
    assert sorted(EXAMPLE_PROGRAMS) == sorted(SCALED)
    assert all((EXAMPLES / name).exists() for name in SCALED)


def test_binarytrees_10_prints_the_known_output():
    r = run_cpython("binarytrees.py", ["10"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == BINARYTREES_10


@pytest.mark.parametrize("name", sorted(SCALED))
def test_example_runs_deterministically_under_cpython(name):
    first = run_cpython(name, SCALED[name])
    assert first.returncode == 0, first.stderr
    second = run_cpython(name, SCALED[name])
    assert deterministic(first.stdout) == deterministic(second.stdout)
    assert deterministic(first.stdout), "an example must print something checkable"


def test_nbody_energy_matches_the_benchmarks_game():
    r = run_cpython("nbody.py", ["1000"])
    assert r.stdout == "-0.169075164\n-0.169087605\n"
