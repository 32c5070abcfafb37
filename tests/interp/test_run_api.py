"""gcheap.interp.run_file: the Python entry point of the VM."""
import os

import pytest

from gcheap.errors import InvalidOption, ProgramError, SubsetError
from programs import EXAMPLES


def run_to_files(tmp_path, src, **kw):
    from gcheap.interp import run_file
    prog = tmp_path / "p.py"
    prog.write_text(src)
    out, err = tmp_path / "out", tmp_path / "err"
    fo, fe = os.open(out, os.O_WRONLY | os.O_CREAT), os.open(err, os.O_WRONLY | os.O_CREAT)
    try:
        r = run_file(str(prog), kw.pop("argv", ()), stdout_fd=fo, stderr_fd=fe, **kw)
    finally:
        os.close(fo)
        os.close(fe)
    return r, out.read_text(), err.read_text()


def test_run_file_passes_argv_and_reports_ok(tmp_path):
    r, out, err = run_to_files(tmp_path, "import sys\nfor a in sys.argv[1:]:\n    print(a)\n",
                               argv=("a", "7"), heap_size="4M")
    assert (r.status, r.exit_status, out, err) == ("ok", 0, "a\n7\n", "")
    assert r.polls >= 2 and r.allocations > 0


def test_run_file_reports_an_uncaught_exception(tmp_path):
    r, out, err = run_to_files(tmp_path, "print(1)\nx = {}['k']\n", heap_size="4M")
    assert (r.status, r.exit_status, r.exc_type, r.exc_line) == ("exception", 1, "KeyError", 2)
    assert out == "1\n" and err.endswith("KeyError: 'k'\n")


def test_run_file_check_raises_program_error(tmp_path):
    with pytest.raises(ProgramError) as info:
        run_to_files(tmp_path, "raise ValueError('no')\n", heap_size="4M", check=True)
    assert info.value.exc_type == "ValueError"


def test_run_file_rejects_out_of_subset_code_before_running(tmp_path):
    with pytest.raises(SubsetError):
        run_to_files(tmp_path, "print('ran')\nasync def f():\n    pass\n", heap_size="4M")


def test_run_file_on_a_given_runtime_reuses_it(tmp_path):
    from gcheap.runtime import Runtime
    with Runtime("8M") as rt:
        for _ in range(3):  # layouts are reused: the class table does not fill up
            r, out, _ = run_to_files(tmp_path, "class A:\n    __slots__ = ('x',)\nprint(A() is not None)\n",
                                     runtime=rt)
            assert out == "True\n"
        with pytest.raises(InvalidOption):
            run_to_files(tmp_path, "pass\n", runtime=rt, heap_size="4M")


def test_collections_during_a_run_are_reported(tmp_path):
    from gcheap.interp import run_file
    fo = os.open(tmp_path / "o", os.O_WRONLY | os.O_CREAT)
    try:
        r = run_file(str(EXAMPLES / "binarytrees.py"), ["12"], heap_size="2M", stdout_fd=fo)
    finally:
        os.close(fo)
    assert r.status == "ok" and len(r.pauses) >= 3
    assert all(p.live_bytes <= 2 << 20 for p in r.pauses)


def test_program_beyond_the_loaders_bounds_is_a_compile_error(tmp_path):
    # a 60001-element list display needs more operand slots than the loader accepts
    # (the root table behind them has room for it, but the bound is checked first)
    src = "g = [" + ", ".join(f"x{i}" for i in range(60001)) + "]\n"
    with pytest.raises(SubsetError) as info:
        run_to_files(tmp_path, src, heap_size="32M")
    assert "too large" in str(info.value) and "the limit is 60000" in str(info.value)
