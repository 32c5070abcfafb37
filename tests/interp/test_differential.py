"""Differential tests: every test program and every (scaled-down) example, run by
CPython and by `gcheap run`; stdout must be identical (ignoring #time / #heap lines),
and expected errors must be the same exception at the same line with exit status 1.

Collectors: stw always; stress (collect at every allocation, heap verified around
every collection) on every test program (it found a format string read after an
allocation that moved it), and with concurrent compaction on a few. The concurrent compactor runs in each fault mode
(sigbus, thread) and with the MOVE install, in a heap small enough that the programs
collect while they run (see vmrun.COLLECTOR_OPTIONS).
"""
import pytest

from programs import EXAMPLES, all_programs, deterministic_lines, last_exception
from vmrun import COLLECTOR_OPTIONS, cpython, gcheap, require_collector

PROGRAMS = [p for p in all_programs() if p.kind != "compile-error"]
COMPILE_ERRORS = [p for p in all_programs() if p.kind == "compile-error"]
SCALED_EXAMPLES = {
    "binarytrees.py": ["8"], "gcbench.py": ["7"], "splay.py": ["3", "300"],
    "message_window.py": ["5000"], "fragmentation.py": ["1"], "nbody.py": ["200"],
    "wordfreq.py": ["800"],
}
STRESS = ["--stress", "--verify", "--heap", "2M"]
# Programs of half-MiB strings: a 2 MiB heap holds too little of them, and a
# collection at every allocation would take minutes. Their collections are tested
# by the other collectors' runs.
NOT_STRESSED = {"ok_str_bulk_windows.py"}
STRESSED = [p for p in PROGRAMS if p.name not in NOT_STRESSED]


def check_program(prog, options):
    g = gcheap(prog.path, options=options)
    if prog.cpython_oracle:
        c = cpython(prog.path)
        assert deterministic_lines(g.stdout) == deterministic_lines(c.stdout), g.stderr
    if prog.kind == "ok":
        assert g.returncode == 0, g.stderr
        assert g.stderr == ""
    else:
        assert g.returncode == 1, g.stderr
        assert g.stderr.startswith("Traceback (most recent call last):\n")
        assert last_exception(g.stderr) == (prog.what, prog.line), g.stderr
        if prog.cpython_oracle and prog.what != "RecursionError":
            # same message as CPython on the last line
            assert g.stderr.splitlines()[-1] == cpython(prog.path).stderr.splitlines()[-1]


# The MOVE install is exercised by the examples; every program runs in each fault mode.
@pytest.mark.parametrize("collector", ["stw", "cmc-sigbus", "cmc-thread"])
@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_program_matches_cpython(prog, collector):
    require_collector(collector)
    check_program(prog, COLLECTOR_OPTIONS[collector])


@pytest.mark.parametrize("prog", STRESSED, ids=[p.name for p in STRESSED])
def test_program_matches_cpython_collecting_at_every_allocation(prog):
    check_program(prog, ["--collector", "stw"] + STRESS)


@pytest.mark.parametrize("mode", ["cmc-sigbus", "cmc-thread"])
@pytest.mark.parametrize("name", ["ok_classes.py", "ok_exceptions.py"])
def test_program_matches_cpython_with_a_concurrent_compaction_at_every_allocation(name, mode):
    require_collector(mode)
    prog = next(p for p in PROGRAMS if p.name == name)
    check_program(prog, COLLECTOR_OPTIONS[mode] + STRESS)


@pytest.mark.parametrize("collector", sorted(COLLECTOR_OPTIONS))
@pytest.mark.parametrize("name", sorted(SCALED_EXAMPLES))
def test_example_matches_cpython(name, collector):
    require_collector(collector)
    args = SCALED_EXAMPLES[name]
    g = gcheap(EXAMPLES / name, args, COLLECTOR_OPTIONS[collector] + ["--heap", "32M"])
    c = cpython(EXAMPLES / name, args)
    assert g.returncode == 0, g.stderr
    assert deterministic_lines(g.stdout) == deterministic_lines(c.stdout)


def test_binarytrees_10_prints_the_known_output():
    from test_examples_cpython import BINARYTREES_10
    g = gcheap(EXAMPLES / "binarytrees.py", ["10"], COLLECTOR_OPTIONS["stw"])
    assert g.returncode == 0 and g.stdout == BINARYTREES_10


def test_binarytrees_survives_a_small_heap_with_many_collections():
    g = gcheap(EXAMPLES / "binarytrees.py", ["10"], ["--collector", "stw", "--heap", "2M", "--stats"])
    assert g.returncode == 0, g.stderr
    from test_examples_cpython import BINARYTREES_10
    assert g.stdout == BINARYTREES_10
    pauses = int(g.stderr.split("gcheap run [stw]: ")[1].split(" pauses")[0])
    assert pauses >= 2


@pytest.mark.parametrize("prog", COMPILE_ERRORS, ids=[p.name for p in COMPILE_ERRORS])
def test_compile_error_is_reported_with_location(prog):
    g = gcheap(prog.path)
    assert g.returncode == 1
    assert g.stdout == ""
    assert g.stderr.startswith(f"{prog.path}:{prog.line}:{prog.col}: ")


def test_heap_exhaustion_is_a_memory_error_not_a_crash(tmp_path):
    src = tmp_path / "grow.py"
    src.write_text("xs = []\nwhile True:\n    xs.append([1, 2, 3, 4])\n")
    g = gcheap(src, options=["--heap", "2M"])
    assert g.returncode == 1
    assert last_exception(g.stderr)[0] == "MemoryError"


def test_stats_json(tmp_path):
    import json
    out = tmp_path / "s.json"
    g = gcheap(EXAMPLES / "binarytrees.py", ["6"], ["--heap", "2M", "--stats-json", str(out)])
    assert g.returncode == 0, g.stderr
    data = json.loads(out.read_text())
    assert data["status"] == "ok" and data["pauses"]["count"] == len(data["pause_log"])
