"""Fuzzing the front end: whatever the input, the compiler either produces bytecode or
raises SubsetError. (What the bytecode means is fuzzed end to end by test_fuzz_vm:
the C VM against CPython.)"""
import contextlib
import io
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcheap.errors import SubsetError
from gcheap.interp import compiler

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
                                 "global", "del", "{", "}", "*", "**", "yield", "nonlocal",
                                 "with", "as", "finally", "async", "await", "from", "@", "not"]),
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
