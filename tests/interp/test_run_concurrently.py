"""Programs are root providers of their own (csrc/interp/vm.c): two can run on
one runtime at once, neither touches the runtime's global roots, and close()
refuses with RuntimeBusy while one runs instead of pulling the heap from under it."""
from __future__ import annotations

import os
import threading
import time

import pytest

import gcheap
from gcheap.interp.run import run_file

LOOP = """
import sys
n = int(sys.argv[1])
acc = []
for i in range(n):
    acc.append([i, str(i), (i, i)])
    if len(acc) > 2000:
        acc = []
print(len(acc), n)
"""


def run_in_thread(path, argv, rt, out_path, results):
    with open(out_path, "w") as out:
        results.append(run_file(str(path), argv, runtime=rt, stdout_fd=out.fileno()))


# KNOWN BUG, not fixed (found 2026-12-04 after the new language core was merged): under
# cmc, in about 1 run in 10, one of the two programs sees a wrong value ("list indices
# must be integers or slices, not builtin_function_or_method"); reproduced with the
# builds before and after the review's allocation change (8/40 and 4/40 runs). xfail,
# not skip: the test still runs and reports XPASS when it passes.
@pytest.mark.parametrize("collector", ["stw", pytest.param("cmc", marks=[
    pytest.mark.uffd, pytest.mark.xfail(strict=False, reason="known bug: two programs at once under cmc, "
                                        "~10% of runs see a wrong value")])])
def test_two_programs_at_once_on_one_runtime(tmp_path, collector):
    prog = tmp_path / "loop.py"
    prog.write_text(LOOP)
    with gcheap.Runtime(heap_size="64M", collector=collector, verify=True) as rt:
        # the embedding program's global roots, far above the old 1024 limit
        Node = rt.define_class("Node", scalars=["v"])
        for g in (0, 1023, 1024, 5000, 60000):
            rt.globals[f"g{g}"] = rt.new(Node, v=g)
        results: list = []
        threads = [threading.Thread(target=run_in_thread, args=(prog, [str(n)], rt, tmp_path / f"out{k}", results))
                   for k, n in enumerate((30000, 20000))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert [r.status for r in results] == ["ok", "ok"]
        assert (tmp_path / "out0").read_text() == f"{30000 % 2001} 30000\n"
        assert (tmp_path / "out1").read_text() == f"{20000 % 2001} 20000\n"
        assert rt.stats()["collections"] > 0
        for g in (0, 1023, 1024, 5000, 60000):
            assert rt.globals[f"g{g}"].v == g
        rt.verify()


def test_close_while_a_program_runs_raises_runtime_busy(tmp_path):
    prog = tmp_path / "loop.py"
    prog.write_text(LOOP)
    rt = gcheap.Runtime(heap_size="32M")
    results: list = []
    t = threading.Thread(target=run_in_thread, args=(prog, ["400000"], rt, os.devnull, results))
    t.start()
    try:
        while t.is_alive() and rt.stats()["objects_allocated"] < 1000:
            pass                 # the program is running once it allocates
        refused = 0
        while t.is_alive() and refused < 50:
            try:
                rt.close()
            except gcheap.RuntimeBusy:
                refused += 1
                time.sleep(0.001)
                continue
            break                # run_file returned between two tries
        assert refused > 0, "the program ended before close() was tried"
        if refused == 50:
            rt.verify()          # still open and whole after the refusals
        t.join(120)
        assert results and results[0].status == "ok", results
    finally:
        t.join(120)
        rt.close()
    assert rt.closed
