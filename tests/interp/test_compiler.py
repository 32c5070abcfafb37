"""The compiler: bytecode well-formed, and its meaning (via the reference evaluator)
equals CPython running the same source."""
import subprocess
import sys

import pytest

from gcheap.errors import ProgramError
from gcheap.interp import bytecode as bc
from gcheap.interp import compiler, refvm
from programs import EXAMPLES, all_programs, subset_examples, deterministic_lines, last_exception

PROGRAMS = [p for p in all_programs() if p.kind != "compile-error"]
# Small enough for the (slow) reference evaluator.
EXAMPLE_ARGS = {
    "binarytrees.py": ["4"], "gcbench.py": ["9"], "splay.py": ["1", "30"],
    "message_window.py": ["300"], "fragmentation.py": ["1"], "nbody.py": ["20"],
    "wordfreq.py": ["150"],
}


def cpython(path, args=()):
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                          timeout=60)


def reference(path, args=()):
    prog = compiler.compile_file(str(path))
    try:
        return refvm.run_program(prog, [str(path), *args]), None
    except ProgramError as e:
        return e.stdout, e


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_program_means_what_cpython_says(prog):
    out, err = reference(prog.path)
    if prog.cpython_oracle:
        assert deterministic_lines(out) == deterministic_lines(cpython(prog.path).stdout)
    if prog.kind == "ok":
        assert err is None, err.traceback
    else:
        assert err is not None and err.exc_type == prog.what, out
        assert last_exception(err.traceback) == (prog.what, prog.line)


@pytest.mark.parametrize("name", sorted(EXAMPLE_ARGS))
def test_example_means_what_cpython_says(name):
    path = EXAMPLES / name
    out, err = reference(path, EXAMPLE_ARGS[name])
    assert err is None, err.traceback
    assert deterministic_lines(out) == deterministic_lines(cpython(path, EXAMPLE_ARGS[name]).stdout)


def test_every_code_object_is_well_formed():
    for path in [p.path for p in PROGRAMS] + subset_examples():
        prog = compiler.compile_file(str(path))
        assert prog.codes[0].name == "<module>"
        for code in prog.codes:
            assert len(code.code) == len(code.lines)
            assert code.max_stack >= 1
            assert code.nlocals == len(code.local_names) >= code.argcount
            for insn in code.code:
                op, arg = bc.decode(insn)
                assert 0 <= op < len(bc.OPCODES)
                if bc.NAMES[op] in ("JUMP", "LOOP", "POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE",
                                    "FOR_ITER", "SETUP_EXCEPT", "JUMP_IF_FALSE_OR_POP",
                                    "JUMP_IF_TRUE_OR_POP"):
                    assert 0 <= arg < len(code.code)
            assert bc.NAMES[bc.decode(code.code[-1])[0]] in ("RETURN_VALUE", "JUMP", "LOOP",
                                                             "RERAISE", "RAISE")


def test_backward_jumps_are_loops():
    # Safepoint polls sit on LOOP: every backward edge must be one.
    for path in subset_examples():
        for code in compiler.compile_file(str(path)).codes:
            for pc, insn in enumerate(code.code):
                op, arg = bc.decode(insn)
                if bc.NAMES[op] in ("JUMP", "POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE"):
                    assert arg > pc, f"{code.name} pc {pc}: backward {bc.NAMES[op]}"


def test_names_resolve_to_slots():
    prog = compiler.compile_source(
        "g = 1\ndef f(a, b=2):\n    c = a + b + g\n    return c\nprint(f(1))\n", "t.py")
    f = prog.codes[1]
    assert f.local_names == ["a", "b", "c"] and f.argcount == 2
    ops = [bc.NAMES[bc.decode(i)[0]] for i in f.code]
    assert "LOAD_GLOBAL" in ops and ops.count("LOAD_LOCAL") == 3
    assert prog.global_names == ["f", "g"]


def test_int_overflow_is_an_error_not_a_wrong_answer():
    prog = compiler.compile_source("x = 2 ** 62\ny = x * 2\n", "t.py")
    with pytest.raises(ProgramError) as info:
        refvm.run_program(prog, ["t.py"])
    assert info.value.exc_type == "OverflowError"
