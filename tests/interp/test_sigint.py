"""Ctrl-C: SIGINT raises KeyboardInterrupt in the program at its next safepoint
poll; the program may catch it; uncaught, gcheap run prints the traceback and
exits 130 and run_file raises it to its caller. A SIGINT during collections
(stress: one at every allocation; cmc: concurrent cycles) leaves the heap
consistent (--verify checks it around every collection)."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

GCHEAP = [sys.executable, "-m", "gcheap", "run"]
STARTUP = 1.5

LOOP = "i = 0\nwhile True:\n    i += 1\n"
ALLOC = textwrap.dedent("""
    keep = []
    while True:
        keep.append([len(keep), str(len(keep))])
        if len(keep) > 500:
            keep = []
""")
CATCH = textwrap.dedent("""
    i = 0
    try:
        while True:
            i += 1
    except KeyboardInterrupt:
        print("caught", i > 0)
    print("after")
""")


def interrupt(cmd, delay=0.0):
    """Runs cmd, sends SIGINT once the program runs (its compilation takes well
    under STARTUP seconds) plus delay."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(STARTUP + delay)
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("SIGINT did not stop the program")
    return p.returncode, out, err


def test_uncaught_keyboard_interrupt_exits_130_with_a_traceback(tmp_path):
    prog = tmp_path / "loop.py"
    prog.write_text('' + LOOP)
    rc, out, err = interrupt(GCHEAP + [str(prog)])
    assert rc == 130
    assert err.startswith("Traceback (most recent call last):") and err.rstrip().endswith("KeyboardInterrupt")
    assert f'File "{prog}", line' in err


def test_keyboard_interrupt_taken_as_a_call_enters_its_function(tmp_path):
    """A SIGINT during a long native operation is taken at the next poll: here the
    call of f, whose frame has run no instruction yet. Its traceback line used
    to be read at index -1 (SIGSEGV)."""
    prog = tmp_path / "entry.py"
    prog.write_text(textwrap.dedent("""
        def f():
            return 1
        big = "ab" * 26214400
        while True:
            big.find("zz")
            f()
    """))
    for _ in range(3):
        rc, out, err = interrupt(GCHEAP + ["--collector", "stw", str(prog)], delay=0.5)
        assert rc == 130, err
        assert err.rstrip().endswith("KeyboardInterrupt") and f'File "{prog}", line' in err


def test_a_program_can_catch_keyboard_interrupt(tmp_path):
    prog = tmp_path / "catch.py"
    prog.write_text(CATCH)
    rc, out, err = interrupt(GCHEAP + [str(prog)])
    assert rc == 0 and out.split("\n")[:2] == ["caught True", "after"], (out, err)


def test_except_exception_does_not_catch_it(tmp_path):
    prog = tmp_path / "exc.py"
    prog.write_text('try:\n    while True:\n        pass\nexcept Exception:\n'
                    '    print("wrongly caught")\n')
    rc, out, err = interrupt(GCHEAP + [str(prog)])
    assert rc == 130 and "wrongly caught" not in out


@pytest.mark.parametrize("options", [["--stress", "--verify"],
                                     pytest.param(["--collector", "cmc", "--verify", "--heap-initial", "1M"],
                                                  marks=pytest.mark.uffd)])
def test_sigint_during_collections_leaves_the_heap_consistent(tmp_path, options):
    prog = tmp_path / "alloc.py"
    prog.write_text(ALLOC)
    for delay in (0.0, 0.13, 0.31):
        rc, out, err = interrupt(GCHEAP + options + ["--stats", str(prog)], delay=delay)
        assert rc == 130, err
        assert "KeyboardInterrupt" in err and "HeapCorruption" not in err and "runtime failed" not in err


def test_run_file_raises_keyboard_interrupt_to_its_caller(tmp_path):
    prog = tmp_path / "loop.py"
    prog.write_text('' + LOOP)
    driver = textwrap.dedent(f"""
        import sys
        from gcheap.interp.run import run_file
        try:
            run_file({str(prog)!r})
        except KeyboardInterrupt:
            print("run_file raised KeyboardInterrupt", flush=True)
            sys.exit(7)
    """)
    rc, out, err = interrupt([sys.executable, "-c", driver])
    assert rc == 7 and "run_file raised KeyboardInterrupt" in out, (out, err)


def test_ignored_sigint_stays_ignored(tmp_path):
    """A SIGINT the parent ignored (nohup, background jobs) does not interrupt."""
    prog = tmp_path / "short.py"
    prog.write_text('i = 0\nwhile i < 3000000:\n    i += 1\nprint("done")\n')
    p = subprocess.Popen(GCHEAP + [str(prog)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    time.sleep(STARTUP)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and out.strip() == "done", err
