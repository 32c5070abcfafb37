"""The compiler: well-formed bytecode for every program, example, library module
and benchmark; names resolved as Python resolves them (checked end to end by the
differential tests, which run the bytecode in the C VM against CPython)."""
import pytest

from gcheap.interp import bytecode as bc
from gcheap.interp import compiler
from gcheap.interp.symtable import CELL, FREE, GLOBAL, LOCAL, NAME, SymbolTable
from programs import all_programs, subset_examples, pyperformance_benchmarks

PROGRAMS = [p for p in all_programs() if p.kind != "compile-error"]
SOURCES = [p.path for p in PROGRAMS] + subset_examples() + pyperformance_benchmarks()


def check_program(prog):
    assert prog.codes[prog.modules[0].code].name == "<module>"
    assert prog.modules[0].name == "__main__"
    for code in prog.codes:
        assert len(code.code) == len(code.lines) > 0
        assert code.nlocals == len(code.local_names)
        assert 0 <= code.nfree <= code.nlocals
        assert code.max_stack >= 2
        assert bc.disassemble(code)
        for insn in code.code:
            op, arg = bc.decode(insn)
            assert op < len(bc.OPCODES)
            if bc.NAMES[op] == "LOAD_CONST":
                assert arg < len(code.consts)
    for m in prog.modules:
        assert m.kind in ("python", "native", "missing")
        if m.kind == "python":
            assert m.global_start + m.nglobals <= len(prog.global_names)


@pytest.mark.parametrize("path", SOURCES, ids=[p.name if p.name != "run_benchmark.py" else p.parent.name
                                               for p in SOURCES])
def test_every_code_object_is_well_formed(path):
    check_program(compiler.compile_file(str(path)))


def test_every_opcode_has_a_stack_effect():
    for name, _ in bc.OPCODES:
        compiler._effects(name, 0)


def test_library_modules_compile():
    import os
    for name in sorted(os.listdir(compiler.LIB_DIR)):
        if name.endswith(".py") or os.path.isfile(os.path.join(compiler.LIB_DIR, name, "__init__.py")):
            prog = compiler.compile_source(f"import {name.removesuffix('.py')}\n", "t.py")
            check_program(prog)
            assert prog.modules[1].kind == "python"
            assert all(m.kind != "missing" for m in prog.modules)


def test_imports_resolve_to_library_native_or_missing_modules():
    prog = compiler.compile_source("import math, bisect, no_such_mod\nfrom collections import deque\n", "t.py")
    kinds = {m.name: m.kind for m in prog.modules}
    assert kinds["math"] == "native" and kinds["bisect"] == "python"
    assert kinds["no_such_mod"] == "missing" and kinds["collections"] == "python"


def scopes(src):
    return SymbolTable(__import__("ast").parse(src))


def test_scopes_follow_pythons_rules():
    t = scopes(
        "g = 1\n"
        "def f(a):\n"
        "    b = a\n"
        "    def inner():\n"
        "        nonlocal b\n"
        "        b = b + g\n"
        "        return a\n"
        "    return inner\n"
        "class C:\n"
        "    x = 1\n"
        "    y = x\n"
        "    def m(self):\n"
        "        return super().m()\n")
    f = t.module.children[0]
    inner = f.children[0]
    assert f.kind_of("b") == CELL and f.kind_of("a") == CELL
    assert inner.kind_of("b") == FREE and inner.kind_of("a") == FREE and inner.kind_of("g") == GLOBAL
    c = t.module.children[1]
    assert c.kind_of("x") == NAME and c.kind_of("__class__") == CELL
    assert c.children[0].kind_of("__class__") == FREE and c.children[0].kind_of("self") == LOCAL


def test_constant_set_displays_are_frozenset_constants_as_in_cpython():
    prog = compiler.compile_source("s = {3, 1, 2}\nt = {1, x}\n".replace("x", "len([])"), "t.py")
    names = [bc.NAMES[bc.decode(i)[0]] for i in prog.codes[0].code]
    assert names[:3] == ["BUILD_SET", "LOAD_CONST", "SET_UPDATE"]


def test_constant_folding_stays_in_64_bits_and_never_raises():
    consts = compiler.compile_source("a = 2 ** 40\nb = 1 / 0\nc = 2 ** 70\nd = -(1 << 3)\n", "t.py").codes[0].consts
    assert 2 ** 40 in consts and -8 in consts
    assert 2 ** 70 not in consts


def _mutated(src, mutate):
    """The image of src after mutate(code) edits its module code, and whether the
    Python verifier accepts the edited code."""
    from gcheap.interp.image import encode
    prog = compiler.compile_source(src, "t.py")
    code = prog.codes[prog.modules[0].code]
    mutate(code)
    try:
        compiler._max_stack(code)
        accepted = True
    except AssertionError:
        accepted = False
    return encode(prog, ["t.py"]), accepted


def _replace(old, new, arg_delta=0):
    def mutate(code):
        for pc, insn in enumerate(code.code):
            op, arg = bc.decode(insn)
            if bc.NAMES[op] == old:
                code.code[pc] = bc.encode(bc.OP[new], arg + arg_delta)
                return
        raise AssertionError(f"no {old}")
    return mutate


@pytest.mark.parametrize("src,mutation", [
    # a plain call of the method's callable slot would read the self|NULL operand
    ("x = [1]\nx.append(2)\n", _replace("CALL_METHOD", "CALL", 1)),
    # a backward jump that is not LOOP would never poll the safepoint
    ("i = 0\nwhile i < 3:\n    i += 1\n", _replace("LOOP", "JUMP")),
])
def test_the_verifiers_reject_null_operand_misuse_and_unpolled_loops(src, mutation):
    from gcheap import _lowlevel as _ll
    from gcheap.runtime import Runtime
    image, accepted = _mutated(src, mutation)
    assert not accepted
    with Runtime("4M") as rt:
        rc, _ = _ll.interp_run(rt._c, image, 1, 2)
    assert rc == -22
