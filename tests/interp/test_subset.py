"""The subset checker accepts every example and program, rejects the rest where it is."""
import pytest

from gcheap.errors import SubsetError
from gcheap.interp import subset
from programs import all_programs, subset_examples

PROGRAMS = all_programs()
ACCEPTED = [p.path for p in PROGRAMS if p.kind != "compile-error"] + subset_examples()
REJECTED = [p for p in PROGRAMS if p.kind == "compile-error"]


@pytest.mark.parametrize("path", ACCEPTED, ids=[p.name for p in ACCEPTED])
def test_checker_accepts(path):
    subset.parse_and_check(path.read_text(), str(path))


@pytest.mark.parametrize("prog", REJECTED, ids=[p.name for p in REJECTED])
def test_checker_rejects_at_the_right_place(prog):
    with pytest.raises(SubsetError) as info:
        subset.parse_and_check(prog.path.read_text(), str(prog.path))
    e = info.value
    assert (e.lineno, e.offset) == (prog.line, prog.col)
    assert prog.what in e.what
    assert str(e).startswith(f"{prog.path}:{prog.line}:{prog.col}: ")


INLINE = [
    ("x = 1 << 70\n", 1, 10, None),  # a BinOp is fine: overflow is a run-time error
    ("x = [i for i in range(3)]\nf = lambda: x\n", 1, 1, None),
    ("def f(*a, b=1, **k):\n    nonlocal_free = [a, b, k]\n    return nonlocal_free\n", 1, 1, None),
    ("class A(list):\n    pass\nwith open('f') as g:\n    pass\n", 1, 1, None),
    ("x = 99999999999999999999\n", 1, 5, "64-bit range"),
    ("x = 1j\n", 1, 5, "complex literal"),
    ("x = b'1'\n", 1, 5, "bytes literal"),
    ("x = 1 @ 2\n", 1, 5, "operator @"),
    ("x = 1\nx @= 2\n", 2, 1, "operator @"),
    ("async def f():\n    pass\n", 1, 1, "async def"),
    ("def f():\n    return\nasync def g():\n    await f()\n", 3, 1, "async def"),
    ("from . import x\n", 1, 1, "relative import"),
    ("from os import *\n", 1, 1, "from-import of *"),
    ("class A(metaclass=type):\n    pass\n", 1, 19, "class keyword 'metaclass'"),
    ("def f(a, /, b):\n    pass\n", 1, 1, "positional-only"),
    ("match 1:\n    case 1:\n        pass\n", 1, 1, "match statement"),
    ("break\n", 1, 1, "'break' outside loop"),
    ("return 1\n", 1, 1, "'return' outside function"),
    ("def f():\n    x = 1\n    def g():\n        nonlocal y\n", 4, 9, "no binding for nonlocal"),
    ("def f(:\n", 1, 7, "syntax error"),
    ("x = 'a\\x00'\nx(\n", 2, 2, "syntax error"),
]


@pytest.mark.parametrize("src,line,col,what", INLINE, ids=[w or "ok" for *_, w in INLINE])
def test_checker_inline_cases(src, line, col, what):
    if what is None:
        subset.parse_and_check(src, "t.py")
        return
    with pytest.raises(SubsetError) as info:
        subset.parse_and_check(src, "t.py")
    assert (info.value.lineno, info.value.offset) == (line, col), str(info.value)
    assert what in info.value.what


def test_subset_error_is_a_syntax_error_and_a_gcheap_error():
    from gcheap.errors import GCHeapError
    with pytest.raises(SyntaxError):
        subset.parse_and_check("async def f(): pass\n", "t.py")
    with pytest.raises(GCHeapError):
        subset.parse_and_check("def (:\n", "t.py")
