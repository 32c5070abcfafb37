"""The subset checker accepts every example and program, rejects the rest where it is."""
import pytest

from gcheap.errors import SubsetError
from gcheap.interp import subset
from programs import EXAMPLES, all_programs, subset_examples

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
    ("x = 1\ny = [i for i in x]\n", 2, 5, "list comprehension"),
    ("def f():\n    class A:\n        __slots__ = ()\n", 2, 5, "class definition outside"),
    ("class A:\n    __slots__ = ('a', 'a')\n", 2, 23, "listed twice"),
    ("class A:\n    __slots__ = ('x',)\n    x = 3\n", 3, 5, "only hold __slots__"),
    ("import time\nt = time\n", 2, 5, "time.perf_counter()"),
    ("import time\nt = time.sleep(1)\n", 2, 5, "'time.sleep'"),
    ("import sys\nsys.exit(1)\n", 2, 1, "'sys.exit'"),
    ("len = 3\n", 1, 1, "rebinding the built-in"),
    ("x = 1 << 70\n", 1, 10, None),  # a BinOp is fine: overflow is a run-time error
    ("x = 99999999999999999999\n", 1, 5, "64-bit range"),
    ("x = 1j\n", 1, 5, "complex literal"),
    ("print(f'{1!r}')\n", 1, 7, "f-string conversion"),
    ("a = [1]\na[0:1] = [2]\n", 2, 1, "slice assignment"),
    ("x = 1\ndel x\n", 2, 5, "del of anything"),
    ("def f(a, *, b):\n    pass\n", 1, 1, "keyword-only"),
    ("def f(a: int):\n    pass\n", 1, 1, "annotation"),
    ("break\n", 1, 1, "'break' outside loop"),
    ("return 1\n", 1, 1, "'return' outside function"),
    ("raise\n", 1, 1, "bare raise"),
    ("try:\n    pass\nexcept ValueError:\n    pass\nelse:\n    pass\n", 1, 1, "else clause on try"),
    ("x = 1 @ 2\n", 1, 5, "operator @"),
    ("global x\n", 1, 1, "global statement at module level"),
    ("print(*[1])\n", 1, 7, "*args in a call"),
    ("d = {**{}}\n", 1, 8, "dict unpacking"),
    ("x = 'a\\x00'\nexec('1')\n", 2, 1, "built-in 'exec'"),
    ("async def f():\n    pass\n", 1, 1, "async def"),
    ("for x in []:\n    pass\nelse:\n    pass\n", 1, 1, "else clause on a loop"),
    ("class A:\n    __slots__ = ()\n    def f():\n        pass\n", 3, 5, "needs a self parameter"),
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
        subset.parse_and_check("lambda: 0\n", "t.py")
    with pytest.raises(GCHeapError):
        subset.parse_and_check("def (:\n", "t.py")
