"""tests/programs/ under CPython: the oracle agrees with what each program states."""
import subprocess
import sys

import pytest

from programs import all_programs, last_exception

PROGRAMS = all_programs()


def ids(progs):
    return [p.name for p in progs]


def test_there_are_enough_programs():
    kinds = [p.kind for p in PROGRAMS]
    assert len(PROGRAMS) >= 40
    assert kinds.count("ok") >= 25 and kinds.count("compile-error") >= 15
    assert kinds.count("runtime-error") >= 15


OK = [p for p in PROGRAMS if p.kind == "ok"]
RERR = [p for p in PROGRAMS if p.kind == "runtime-error" and p.cpython_oracle]


@pytest.mark.parametrize("prog", OK, ids=ids(OK))
def test_ok_program_runs_under_cpython(prog):
    r = subprocess.run([sys.executable, str(prog.path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout


@pytest.mark.parametrize("prog", RERR, ids=ids(RERR))
def test_runtime_error_program_fails_as_stated_under_cpython(prog):
    r = subprocess.run([sys.executable, str(prog.path)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    exc, line = last_exception(r.stderr)
    assert exc == prog.what
    if prog.what != "RecursionError":  # CPython folds the repeated frames
        assert line == prog.line
