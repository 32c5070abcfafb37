"""Fuzzing the front end: whatever the input, the compiler either produces bytecode or
raises SubsetError; the bytecode's meaning (reference evaluator) matches CPython."""
import contextlib
import io
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzgen import programs
from gcheap.errors import ProgramError, SubsetError
from gcheap.interp import compiler, refvm

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_compiler(text):
    try:
        compiler.compile_source(text, "fuzz.py")
    except SubsetError:
        pass


@FUZZ
@given(st.lists(st.sampled_from(["def", "f", "(", ")", ":", "\n", "    ", "x", "=", "1",
                                 "class", "A", "__slots__", "[", "]", "for", "in", "return",
                                 "try", "except", "raise", "lambda", "import", "sys", ".",
                                 "print", ",", "'s'", "if", "else", "while", "break",
                                 "global", "del", "{", "}", "*", "**", "yield"]),
                max_size=40))
def test_token_soup_never_crashes_the_compiler(tokens):
    try:
        compiler.compile_source(" ".join(tokens), "fuzz.py")
    except SubsetError:
        pass


def run_cpython_inline(src):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        try:
            exec(compile(src, "fuzz.py", "exec"), {"__name__": "__main__"})
        except Exception as e:  # noqa: BLE001 - the program's own exception
            return out.getvalue(), type(e).__name__
    return out.getvalue(), None


@FUZZ
@given(programs())
def test_random_programs_mean_what_cpython_says(src):
    try:
        prog = compiler.compile_source(src, "fuzz.py")
    except SubsetError:
        return
    try:
        out, exc = refvm.run_program(prog, ["fuzz.py"]), None
    except ProgramError as e:
        out, exc = e.stdout, e.exc_type
    if exc in ("OverflowError", "MemoryError"):
        return  # 64-bit ints: CPython goes on with a big int (or runs out of memory)
    want_out, want_exc = run_cpython_inline(src)
    if exc == "AttributeError" and want_exc != "AttributeError":
        return  # a method of a built-in type that the subset leaves out (e.g. dict.pop)
    assert (out, exc) == (want_out, want_exc)
