"""Programs under concurrent marking with its verifiers: every remark re-marks
stop-the-world (checkmark) and checks the snapshot (missing barrier logs), random
delays are injected in the barrier and between phases, cycles start at every
allocation (--stress) or ahead of the heap filling (the pacer), and the heap is
verified around every pause. Output must equal CPython's."""
from __future__ import annotations

import pytest

from programs import EXAMPLES, all_programs, deterministic_lines
from vmrun import cpython, gcheap, require_collector

CHECKED = ["--collector", "cmc", "--gc-checks", "checkmark,barrier", "--gc-stress-delay", "50", "--verify"]
STRESSED = ["ok_classes.py", "ok_dicts.py", "ok_lists.py", "ok_exceptions.py", "ok_strings_build.py",
            "ok_nested_data.py", "ok_closures.py", "ok_generators.py", "ok_inheritance.py", "ok_sets_slices.py",
            "ok_special_methods.py", "ok_comprehensions.py", "ok_calls.py", "ok_modules.py"]
PROGRAMS = [p for p in all_programs() if p.path.name in STRESSED]


@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
@pytest.mark.parametrize("prog", PROGRAMS, ids=lambda p: p.path.name)
def test_program_under_checked_concurrent_marking_at_every_allocation(prog, fault_mode):
    require_collector(f"cmc-{fault_mode}")
    g = gcheap(prog.path, options=CHECKED + ["--fault-mode", fault_mode, "--stress", "--heap", "4M"])
    assert g.returncode == 0, g.stderr
    assert deterministic_lines(g.stdout) == deterministic_lines(cpython(prog.path).stdout)


@pytest.mark.parametrize("example,args", [("binarytrees.py", ["12"]), ("gcbench.py", ["1"])])
def test_example_under_paced_checked_cycles(example, args):
    """No --stress: cycles are started by the pacer while the program runs."""
    require_collector("cmc-sigbus")
    g = gcheap(EXAMPLES / example, args, CHECKED + ["--heap-initial", "1M", "--stats"])
    assert g.returncode == 0, g.stderr
    assert deterministic_lines(g.stdout) == deterministic_lines(cpython(EXAMPLES / example, args).stdout)
    assert "cycles" in g.stderr.splitlines()[-1]


def test_gc_checks_need_cmc():
    g = gcheap(EXAMPLES / "binarytrees.py", ["4"], ["--collector", "stw", "--gc-checks", "checkmark"])
    assert g.returncode == 2 and "--gc-checks is an option of collector cmc, not stw" in g.stderr
