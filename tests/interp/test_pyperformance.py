"""pyperformance's benchmark files, unmodified: gcheap prints exactly what CPython
prints running the same file with the same pyperf stand-in, under stw and under
the concurrent compactor, with the heap verified around every collection.

Short configurations (the benchmarks' own options, gcheap.interp.pyperformance
.QUICK) keep this to a few seconds per benchmark; GCHEAP_STRESS=1 adds the
timing configurations (longer runs with more collections)."""
import os

import pytest

pytest.importorskip("pyperformance")

from gcheap.interp import pyperformance as pp  # noqa: E402
from vmrun import COLLECTOR_OPTIONS, require_collector  # noqa: E402

# Heaps small enough that the collectors run several times; float keeps
# 100000 points alive at once.
HEAP = {"float": "48M"}
_cpython: dict = {}


@pytest.fixture(scope="module")
def shim():
    d = pp.shim_dir()
    yield d
    import shutil
    shutil.rmtree(d, ignore_errors=True)


def cpython_output(name, args, shim):
    key = (name, tuple(args))
    if key not in _cpython:
        r = pp.run_cpython(name, args, shim)
        assert r.returncode == 0, r.stderr
        _cpython[key] = r.stdout
    return _cpython[key]


def check(name, args, collector, shim, extra=()):
    require_collector(collector)
    options = [*COLLECTOR_OPTIONS[collector][:-2], "--heap", HEAP.get(name, "16M"), "--verify", *extra]
    g = pp.run_gcheap(name, args, options)
    assert g.returncode == 0, g.stderr
    assert g.stdout == cpython_output(name, args, shim), g.stderr
    assert g.stdout.strip(), "a benchmark prints its NAME: RESULT line"


@pytest.mark.parametrize("collector", ["stw", "cmc-sigbus"])
@pytest.mark.parametrize("name", pp.BENCHMARKS)
def test_benchmark_prints_what_cpython_prints(name, collector, shim):
    check(name, pp.QUICK.get(name, []), collector, shim)


@pytest.mark.stress
@pytest.mark.skipif(os.environ.get("GCHEAP_STRESS") != "1", reason="GCHEAP_STRESS=1 runs the long configurations")
@pytest.mark.parametrize("collector", ["stw", "cmc-sigbus", "cmc-thread"])
@pytest.mark.parametrize("name", pp.BENCHMARKS)
def test_benchmark_timing_configuration_prints_what_cpython_prints(name, collector, shim):
    check(name, pp.TIMING.get(name, []), collector, shim)


def test_stand_in_takes_the_program_arguments(shim):
    g = pp.run_gcheap("nbody", ["--iterations", "10", "--reference", "jupiter"])
    assert g.returncode == 0 and g.stdout == "nbody: done\n", g.stderr
    bad = pp.run_gcheap("nbody", ["--iterations", "x"])
    assert bad.returncode == 2 and "invalid int value: 'x'" in bad.stderr
    choice = pp.run_gcheap("scimark", ["nope"])
    assert choice.returncode == 2 and "invalid choice: 'nope'" in choice.stderr


def test_every_benchmark_has_a_timing_configuration():
    assert sorted(pp.TIMING) == sorted(pp.BENCHMARKS)
    assert set(pp.QUICK) <= set(pp.BENCHMARKS)


CHECKED = ["--collector", "cmc", "--gc-checks", "checkmark,barrier", "--gc-stress-delay", "50",
           "--heap-initial", "1M"]


@pytest.mark.parametrize("name", pp.BENCHMARKS)
def test_benchmark_under_checked_concurrent_marking(name, shim):
    """Paced cmc cycles from a 1 MiB soft limit, every remark re-marked stop-the-world
    (checkmark) and checked for missing barrier logs, delays injected in the barrier
    and between phases: the new language core's every reference store (closures'
    cells, generator frames, sets, bound methods, ...) goes through the barrier."""
    require_collector("cmc-sigbus")
    args = pp.QUICK.get(name, [])
    g = pp.run_gcheap(name, args, [*CHECKED, "--verify", "--heap", HEAP.get(name, "16M")])
    assert g.returncode == 0, g.stderr
    assert g.stdout == cpython_output(name, args, shim), g.stderr


def test_runner_bad_input_is_one_line_and_exit_2(monkeypatch, capsys):
    """An unknown benchmark, or no pyperformance package: usage error, nothing run."""
    with pytest.raises(SystemExit) as e:
        pp.main(["richards", "nosuch"])
    assert e.value.code == 2 and "unknown benchmark(s) nosuch" in capsys.readouterr().err

    def missing():
        raise ModuleNotFoundError("No module named 'pyperformance'")
    monkeypatch.setattr(pp, "benchmarks_dir", missing)
    with pytest.raises(SystemExit) as e:
        pp.main(["richards"])
    assert e.value.code == 2 and "pip install pyperformance" in capsys.readouterr().err
