"""The compact bytecode: 32-bit instructions, opcode in the low byte, argument above.

    insn = op | arg << 8          (arg: 0 .. 2**24 - 1)

A stack machine. Two-part arguments pack a 16-bit index with an 8-bit count:
arg = index | count << 16. The numbering is shared with the C VM
(csrc/interp_opcodes.h); tests/interp/test_bytecode.py checks the two agree.

Stack effects are written `before -- after`, top of stack on the right.
"""
from __future__ import annotations

import dataclasses

from gcheap.interp.subset import BUILTIN_EXCEPTIONS, BUILTIN_FUNCTIONS

OPCODES = [
    # name,           stack effect / meaning
    ("NOP",           "--"),
    ("LOAD_CONST",    "-- consts[arg]"),
    ("LOAD_LOCAL",    "-- locals[arg]            UnboundLocalError if unset"),
    ("STORE_LOCAL",   "v --"),
    ("LOAD_GLOBAL",   "-- globals[arg]           NameError if unset"),
    ("STORE_GLOBAL",  "v --"),
    ("LOAD_BUILTIN",  "-- builtin[arg]           a built-in function or class"),
    ("LOAD_ARGV",     "-- sys.argv"),
    ("POP",           "v --"),
    ("DUP",           "v -- v v"),
    ("DUP2",          "a b -- a b a b"),
    ("ROT2",          "a b -- b a"),
    ("ROT3",          "a b c -- c a b"),
    # binary operators: a b -- a<op>b
    ("ADD", ""), ("SUB", ""), ("MUL", ""), ("TRUEDIV", ""), ("FLOORDIV", ""), ("MOD", ""),
    ("POW", ""), ("LSHIFT", ""), ("RSHIFT", ""), ("AND", ""), ("OR", ""), ("XOR", ""),
    ("INPLACE_ADD", "a b -- a+=b   lists extend in place"),
    ("INPLACE_MUL", "a b -- a*=b   lists repeat in place"),
    # unary: v -- op v
    ("NEG", ""), ("POS", ""), ("NOT", ""), ("INVERT", ""),
    # comparisons: a b -- bool
    ("EQ", ""), ("NE", ""), ("LT", ""), ("LE", ""), ("GT", ""), ("GE", ""),
    ("IS", ""), ("IS_NOT", ""), ("IN", ""), ("NOT_IN", ""),
    # control flow: arg is an absolute instruction index
    ("JUMP",                 "--"),
    ("LOOP",                 "--     backward jump: a safepoint poll"),
    ("POP_JUMP_IF_FALSE",    "v --"),
    ("POP_JUMP_IF_TRUE",     "v --"),
    ("JUMP_IF_FALSE_OR_POP", "v -- v (jump) | -- (fall through)"),
    ("JUMP_IF_TRUE_OR_POP",  "v -- v (jump) | --"),
    ("GET_ITER",             "v -- iter"),
    ("FOR_ITER",             "iter -- iter next | -- (exhausted: jump to arg)"),
    # containers
    ("BUILD_LIST",      "x1..xn -- list"),
    ("BUILD_TUPLE",     "x1..xn -- tuple"),
    ("BUILD_DICT",      "k1 v1..kn vn -- dict"),
    ("BUILD_STRING",    "s1..sn -- str       concatenation (f-strings)"),
    ("FORMAT",          "v [spec] -- str     arg 1: a spec string is on the stack"),
    ("UNPACK_SEQUENCE", "seq -- xn..x1       x1 on top"),
    ("LOAD_SUBSCR",     "obj key -- obj[key]"),
    ("STORE_SUBSCR",    "v obj key --"),
    ("DELETE_SUBSCR",   "obj key --"),
    ("SLICE",           "obj lo hi -- obj[lo:hi]    lo/hi may be None"),
    # attributes and calls (inline-cached by class at each instruction)
    ("LOAD_ATTR",       "obj -- obj.names[arg]"),
    ("STORE_ATTR",      "v obj --"),
    ("CALL",            "f a1..an -- result          arg = n"),
    ("CALL_METHOD",     "obj a1..an -- result        arg = name | n << 16"),
    ("CALL_BUILTIN",    "a1..an -- result            arg = builtin | n << 16"),
    ("CALL_PRINT",      "a1..an [sep] [end] --       arg = n | flags << 16 (1 sep, 2 end)"),
    ("RETURN_VALUE",    "v --"),
    ("MAKE_FUNCTION",   "d1..dn -- function          arg = code | n << 16 (n defaults)"),
    ("BUILD_CLASS",     "m1..mn -- class             arg = class | n << 16; methods in order"),
    # exceptions
    ("SETUP_EXCEPT",    "--     push a handler block (handler pc = arg, current depth)"),
    ("POP_BLOCK",       "--     leave the innermost handler block"),
    ("EXC_MATCH",       "exc type -- bool            type may be a tuple of types"),
    ("RAISE",           "v --   v an exception instance or class; fresh traceback"),
    ("RERAISE",         "exc -- keeps the exception's traceback"),
    ("RAISE_ASSERT",    "[msg] --                    arg 1: a message is on the stack"),
    ("CHECK_METHOD",    "obj -- obj   AttributeError now if obj has no method names[arg]\n"
                        "             (Python looks the method up before evaluating arguments)"),
]

OP = {name: i for i, (name, _) in enumerate(OPCODES)}
globals().update(OP)  # bytecode.ADD etc.
NAMES = [name for name, _ in OPCODES]

BINARY_OPS = {"Add": "ADD", "Sub": "SUB", "Mult": "MUL", "Div": "TRUEDIV",
              "FloorDiv": "FLOORDIV", "Mod": "MOD", "Pow": "POW", "LShift": "LSHIFT",
              "RShift": "RSHIFT", "BitAnd": "AND", "BitOr": "OR", "BitXor": "XOR"}
UNARY_OPS = {"USub": "NEG", "UAdd": "POS", "Not": "NOT", "Invert": "INVERT"}
COMPARE_OPS = {"Eq": "EQ", "NotEq": "NE", "Lt": "LT", "LtE": "LE", "Gt": "GT", "GtE": "GE",
               "Is": "IS", "IsNot": "IS_NOT", "In": "IN", "NotIn": "NOT_IN"}

# Built-in ids (LOAD_BUILTIN / CALL_BUILTIN): the subset's functions and types, the
# exception classes, then module functions reached as time.perf_counter() etc.
MODULE_FUNCTIONS = ("time.perf_counter", "gc.collect", "gc.heap_stats")
BUILTINS = BUILTIN_FUNCTIONS + BUILTIN_EXCEPTIONS + MODULE_FUNCTIONS
BUILTIN_ID = {name: i for i, name in enumerate(BUILTINS)}

ARG_LIMIT = 1 << 24


def encode(op: int, arg: int = 0) -> int:
    if not 0 <= arg < ARG_LIMIT:
        raise ValueError(f"bytecode argument {arg} out of range")
    return op | arg << 8


def decode(insn: int) -> tuple[int, int]:
    return insn & 0xFF, insn >> 8


@dataclasses.dataclass
class Code:
    """One function's (or the module's) compiled body."""
    name: str
    argcount: int = 0
    nlocals: int = 0                 # parameters first, then locals, then hidden slots
    local_names: list[str] = dataclasses.field(default_factory=list)
    code: list[int] = dataclasses.field(default_factory=list)
    lines: list[int] = dataclasses.field(default_factory=list)   # per instruction
    consts: list = dataclasses.field(default_factory=list)       # None/bool/int/float/str
    names: list[str] = dataclasses.field(default_factory=list)   # attribute names
    max_stack: int = 0


@dataclasses.dataclass
class ClassInfo:
    name: str
    slots: list[str]
    methods: list[str]               # names, in the order BUILD_CLASS pops them


@dataclasses.dataclass
class Program:
    filename: str
    codes: list[Code]                # codes[0] is the module body
    classes: list[ClassInfo]
    global_names: list[str]


def disassemble(code: Code) -> str:
    out = []
    for pc, insn in enumerate(code.code):
        op, arg = decode(insn)
        name = NAMES[op]
        note = ""
        if name == "LOAD_CONST":
            note = repr(code.consts[arg])
        elif name in ("LOAD_ATTR", "STORE_ATTR"):
            note = code.names[arg]
        elif name == "CALL_METHOD":
            note = f"{code.names[arg & 0xFFFF]} argc={arg >> 16}"
        elif name in ("LOAD_BUILTIN",):
            note = BUILTINS[arg]
        elif name == "CALL_BUILTIN":
            note = f"{BUILTINS[arg & 0xFFFF]} argc={arg >> 16}"
        elif name in ("LOAD_LOCAL", "STORE_LOCAL"):
            note = code.local_names[arg]
        out.append(f"{code.lines[pc]:5d} {pc:5d} {name:<22} {arg:<8} {note}")
    return "\n".join(out)
