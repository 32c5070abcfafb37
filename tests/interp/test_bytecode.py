"""The Python bytecode definition and the C VM agree on numbering."""
import re

from gcheap.interp import bytecode as bc
from gcheap.interp import compiler
from programs import ROOT


def test_opcode_header_matches_the_python_table():
    text = (ROOT / "csrc" / "interp" / "opcodes.h").read_text()
    found = dict((name, int(num)) for name, num in re.findall(r"OP_(\w+) = (\d+),", text))
    assert found == {name: i for i, (name, _) in enumerate(bc.OPCODES)}


def native_names():
    text = (ROOT / "csrc" / "interp" / "native_list.h").read_text()
    return re.findall(r'^N\(\w+, "([\w.]+)"', text, re.M)


def test_builtin_ids_match_the_c_table():
    names = native_names()
    assert names[:len(bc.BUILTINS)] == list(bc.BUILTINS)
    text = (ROOT / "csrc" / "interp" / "builtin_ids.h").read_text()
    assert "#define B_COUNT (B_RUNTIMEWARNING + 1)" in text
    assert bc.BUILTINS[-1] == "RuntimeWarning" and bc.BUILTIN_EXCEPTIONS[0] == "BaseException"


def test_native_modules_listed_by_the_compiler_exist_in_c():
    names = native_names()
    for module in compiler.NATIVE_MODULES:
        assert any(n.startswith(module + ".") for n in names), module


def test_binary_opcodes_are_contiguous_in_the_order_the_vm_assumes():
    # ops.c indexes operators by (opcode - ADD), the in-place forms 12 later
    order = ["ADD", "SUB", "MUL", "TRUEDIV", "FLOORDIV", "MOD", "POW", "LSHIFT", "RSHIFT",
             "AND", "OR", "XOR"]
    assert [bc.OP[n] - bc.OP["ADD"] for n in order] == list(range(12))
    assert [bc.OP["INPLACE_" + n] - bc.OP["ADD"] for n in order] == list(range(12, 24))
    assert [bc.OP[n] - bc.OP["LT"] for n in ("LT", "LE", "GT", "GE")] == [0, 1, 2, 3]


def test_special_method_order_matches_the_binary_operators():
    text = (ROOT / "csrc" / "interp" / "classes.c").read_text()
    table = text[text.index("gi_special_names[S_COUNT] = {"):]
    names = re.findall(r'"(__\w+__)"', table[:table.index("};")])
    add = names.index("__add__")
    assert names[add:add + 12] == ["__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__",
                                   "__mod__", "__pow__", "__lshift__", "__rshift__", "__and__",
                                   "__or__", "__xor__"]
    assert names[add + 12] == "__radd__" and names[add + 24] == "__iadd__"
