"""The Python bytecode definition and the C VM agree on numbering."""
import re

from gcheap.interp import bytecode as bc
from programs import ROOT


def test_opcode_header_matches_the_python_table():
    text = (ROOT / "csrc" / "interp" / "opcodes.h").read_text()
    found = dict((name, int(num)) for name, num in re.findall(r"OP_(\w+) = (\d+),", text))
    assert found == {name: i for i, (name, _) in enumerate(bc.OPCODES)}


def test_builtin_ids_match_the_c_table():
    text = (ROOT / "csrc" / "interp" / "builtins.c").read_text()
    table = text[text.index("gi_builtin_names[B_COUNT] = {"):]
    table = table[:table.index("};")]
    assert re.findall(r'"([\w.]+)"', table) == list(bc.BUILTINS)
    header = (ROOT / "csrc" / "interp" / "interp_impl.h").read_text()
    enum = header[header.index("    B_PRINT,"):header.index("B_COUNT")]
    assert len(re.findall(r"B_\w+", enum)) == len(bc.BUILTINS)


def test_binary_opcodes_are_contiguous_in_the_order_the_vm_assumes():
    # interp_ops.c indexes operators by (opcode - ADD)
    order = ["ADD", "SUB", "MUL", "TRUEDIV", "FLOORDIV", "MOD", "POW", "LSHIFT", "RSHIFT",
             "AND", "OR", "XOR", "INPLACE_ADD", "INPLACE_MUL"]
    assert [bc.OP[n] - bc.OP["ADD"] for n in order] == list(range(len(order)))
    assert [bc.OP[n] - bc.OP["LT"] for n in ("LT", "LE", "GT", "GE")] == [0, 1, 2, 3]
