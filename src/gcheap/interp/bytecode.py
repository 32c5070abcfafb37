"""The compact bytecode: 32-bit instructions, opcode in the low byte, argument above.

    insn = op | arg << 8          (arg: 0 .. 2**24 - 1)

A stack machine. Two-part arguments pack a 16-bit index with an 8-bit count or flag
set: arg = index | count << 16. The numbering is shared with the C VM
(csrc/interp/opcodes.h); tests/interp/test_bytecode.py checks the two agree, and
the stack effects below with the C verifier (csrc/interp/load.c).

Stack effects are written `before -- after`, top of stack on the right. NULL is
an empty operand (the method-call convention: `callable self|NULL args...`).
"""
from __future__ import annotations

import dataclasses

OPCODES = [
    # name,           stack effect / meaning
    ("NOP",           "--"),
    ("LOAD_CONST",    "-- consts[arg]"),
    ("LOAD_LOCAL",    "-- locals[arg]            UnboundLocalError if unset"),
    ("STORE_LOCAL",   "v --"),
    ("DELETE_LOCAL",  "--                        UnboundLocalError if unset"),
    ("LOAD_GLOBAL",   "-- globals[arg]           else the built-in of that name, else NameError"),
    ("STORE_GLOBAL",  "v --"),
    ("DELETE_GLOBAL", "--"),
    ("LOAD_BUILTIN",  "-- builtin[arg]"),
    ("LOAD_DEREF",    "-- cell(locals[arg]).value"),
    ("STORE_DEREF",   "v --"),
    ("DELETE_DEREF",  "--"),
    ("LOAD_CLOSURE",  "-- locals[arg]            the cell itself"),
    ("MAKE_CELL",     "--                        locals[arg] = cell(locals[arg])"),
    ("LOAD_NAME",     "-- v                      class body: namespace[names[arg]], else global/builtin"),
    ("STORE_NAME",    "v --                      class body: namespace[names[arg]] = v"),
    ("PUSH_NULL",     "-- NULL"),
    ("POP",           "v --"),
    ("DUP",           "v -- v v"),
    ("DUP2",          "a b -- a b a b"),
    ("ROT2",          "a b -- b a"),
    ("ROT3",          "a b c -- c a b"),
    ("ROT4",          "a b c d -- d a b c"),
    # binary operators: a b -- a<op>b (ADD..XOR contiguous, then the in-place forms)
    ("ADD", ""), ("SUB", ""), ("MUL", ""), ("TRUEDIV", ""), ("FLOORDIV", ""), ("MOD", ""),
    ("POW", ""), ("LSHIFT", ""), ("RSHIFT", ""), ("AND", ""), ("OR", ""), ("XOR", ""),
    ("INPLACE_ADD", ""), ("INPLACE_SUB", ""), ("INPLACE_MUL", ""), ("INPLACE_TRUEDIV", ""),
    ("INPLACE_FLOORDIV", ""), ("INPLACE_MOD", ""), ("INPLACE_POW", ""),
    ("INPLACE_LSHIFT", ""), ("INPLACE_RSHIFT", ""), ("INPLACE_AND", ""), ("INPLACE_OR", ""),
    ("INPLACE_XOR", ""),
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
    ("BUILD_SET",       "x1..xn -- set"),
    ("BUILD_STRING",    "s1..sn -- str       concatenation (f-strings)"),
    ("BUILD_SLICE",     "lo hi [step] -- slice   arg 2 or 3"),
    ("LIST_APPEND",     "list ..(arg-1).. v -- list ..   comprehensions"),
    ("SET_ADD",         "set ..(arg-1).. v -- set .."),
    ("DICT_SET",        "dict ..(arg-1).. k v -- dict .."),
    ("LIST_EXTEND",     "list it -- list      [*it]"),
    ("SET_UPDATE",      "set it -- set"),
    ("DICT_UPDATE",     "dict m -- dict       {**m}"),
    ("LIST_TO_TUPLE",   "list -- tuple"),
    ("FORMAT",          "v [spec] -- str     arg: 1 spec on the stack, 2 !s, 4 !r, 8 !a"),
    ("UNPACK_SEQUENCE", "seq -- xn..x1       x1 on top"),
    ("UNPACK_EX",       "seq -- (after)..list..(before)   arg = before | after << 8"),
    ("LOAD_SUBSCR",     "obj key -- obj[key]"),
    ("STORE_SUBSCR",    "v obj key --"),
    ("DELETE_SUBSCR",   "obj key --"),
    # attributes and calls (inline-cached by class at each instruction)
    ("LOAD_ATTR",       "obj -- obj.names[arg]"),
    ("STORE_ATTR",      "v obj --"),
    ("DELETE_ATTR",     "obj --"),
    ("LOAD_METHOD",     "obj -- callable self|NULL   looks obj.names[arg] up before the arguments"),
    ("CALL",            "f a1..an -- result          arg = n"),
    ("CALL_METHOD",     "f self|NULL a1..an -- result    arg = n"),
    ("CALL_KW",         "f self|NULL a1..an kwnames -- result   arg = n (positional + keyword values)"),
    ("CALL_EX",         "f self|NULL args [kwargs] -- result    arg 1: a kwargs dict is on the stack"),
    ("CALL_BUILTIN",    "a1..an -- result            arg = builtin | n << 16"),
    ("RETURN_VALUE",    "v --"),
    ("YIELD_VALUE",     "v -- sent"),
    ("MAKE_FUNCTION",   "[defaults] [kwdefaults] [closure] -- function   arg = code | flags << 16 (1, 2, 4)"),
    ("BUILD_CLASS",     "name b1..bn namespace -- class   arg = n"),
    # exceptions
    ("SETUP_EXCEPT",    "--     push a handler block (handler pc = arg, current depth)"),
    ("POP_BLOCK",       "--     leave the innermost handler block"),
    ("EXC_MATCH",       "exc type -- bool            type may be a tuple of types"),
    ("RAISE",           "v --   v an exception instance or class; fresh traceback"),
    ("RAISE_FROM",      "v cause --"),
    ("RERAISE",         "exc -- keeps the exception's traceback"),
    ("RAISE_ASSERT",    "[msg] --                    arg 1: a message is on the stack"),
    ("IMPORT_NAME",     "-- module                   arg = module index; runs its body once"),
    ("IMPORT_FROM",     "module -- module v          v = module.names[arg] (ImportError if absent)"),
    ("WITH_ENTER",      "mgr -- exit enter_result"),
    ("WITH_EXIT",       "exit --                     exit(None, None, None)"),
    ("WITH_EXIT_EXC",   "exit exc --                 exit(type, exc, None); re-raises unless true"),
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

# MAKE_FUNCTION flags
MF_DEFAULTS, MF_KWDEFAULTS, MF_CLOSURE = 1, 2, 4
# code flags (csrc/interp/interp_impl.h CO_*)
CO_VARARGS, CO_VARKW, CO_GENERATOR, CO_CLASSBODY = 1, 2, 4, 8

# The built-in namespace: names a program may use without defining them, in the
# order of the C table (csrc/interp/builtins.c gi_natives; checked by a test).
# Exception classes are contiguous, BaseException first.
BUILTIN_FUNCTIONS = (
    "print", "len", "range", "abs", "min", "max", "isinstance", "issubclass", "str", "int",
    "float", "bool", "list", "dict", "tuple", "set", "frozenset", "object", "type", "super",
    "staticmethod", "classmethod", "property", "enumerate", "zip", "map", "filter",
    "reversed", "sorted", "sum", "any", "all", "iter", "next", "hash", "id", "repr", "chr",
    "ord", "round", "divmod", "pow", "callable", "getattr", "setattr", "hasattr", "delattr",
    "hex", "oct", "bin", "format", "slice", "vars", "NotImplemented", "Ellipsis",
)
BUILTIN_EXCEPTIONS = (
    "BaseException", "Exception", "ArithmeticError", "LookupError", "ZeroDivisionError",
    "OverflowError", "FloatingPointError", "IndexError", "KeyError", "ValueError",
    "TypeError", "AttributeError", "RuntimeError", "RecursionError", "NotImplementedError",
    "AssertionError", "NameError", "UnboundLocalError", "MemoryError", "KeyboardInterrupt",
    "StopIteration", "GeneratorExit", "SystemExit", "ImportError", "ModuleNotFoundError",
    "OSError", "EOFError", "UnicodeError", "Warning", "UserWarning", "DeprecationWarning",
    "RuntimeWarning",
)
BUILTINS = BUILTIN_FUNCTIONS + BUILTIN_EXCEPTIONS
BUILTIN_ID = {name: i for i, name in enumerate(BUILTINS)}
BUILTIN_NAMES = frozenset(BUILTINS)

ARG_LIMIT = 1 << 24


def encode(op: int, arg: int = 0) -> int:
    if not 0 <= arg < ARG_LIMIT:
        raise ValueError(f"bytecode argument {arg} out of range")
    return op | arg << 8


def decode(insn: int) -> tuple[int, int]:
    return insn & 0xFF, insn >> 8


@dataclasses.dataclass
class Code:
    """One function's (or a module's, or a class body's) compiled body."""
    name: str                        # co_name: what tracebacks print
    qualname: str = ""
    flags: int = 0                   # CO_*
    argcount: int = 0
    kwonlycount: int = 0
    nlocals: int = 0                 # parameters first, then locals, hidden slots, free variables
    nfree: int = 0                   # the last nfree locals: cells from the closure
    local_names: list[str] = dataclasses.field(default_factory=list)
    code: list[int] = dataclasses.field(default_factory=list)
    lines: list[int] = dataclasses.field(default_factory=list)   # per instruction
    consts: list = dataclasses.field(default_factory=list)       # None/bool/int/float/str/tuple
    names: list[str] = dataclasses.field(default_factory=list)   # attribute and namespace names
    max_stack: int = 0
    module: int = 0                  # index into Program.modules


@dataclasses.dataclass
class ModuleInfo:
    name: str
    kind: str                        # "python", "native" or "missing"
    code: int = -1                   # body (python)
    global_start: int = 0
    nglobals: int = 0


@dataclasses.dataclass
class Program:
    filename: str
    codes: list[Code]                # codes[0] is the main module's body
    modules: list[ModuleInfo]        # modules[0] is __main__
    global_names: list[str]          # every Python module's globals, module by module
    library_paths: list[str] = dataclasses.field(default_factory=list)  # lib/ sources compiled


def disassemble(code: Code) -> str:
    out = []
    for pc, insn in enumerate(code.code):
        op, arg = decode(insn)
        name = NAMES[op]
        note = ""
        if name == "LOAD_CONST":
            note = repr(code.consts[arg])
        elif name in ("LOAD_ATTR", "STORE_ATTR", "DELETE_ATTR", "LOAD_METHOD", "LOAD_NAME",
                      "STORE_NAME", "IMPORT_FROM"):
            note = code.names[arg]
        elif name in ("LOAD_BUILTIN",):
            note = BUILTINS[arg]
        elif name == "CALL_BUILTIN":
            note = f"{BUILTINS[arg & 0xFFFF]} argc={arg >> 16}"
        elif name in ("LOAD_LOCAL", "STORE_LOCAL", "DELETE_LOCAL", "LOAD_DEREF", "STORE_DEREF",
                      "LOAD_CLOSURE", "MAKE_CELL", "DELETE_DEREF"):
            note = code.local_names[arg]
        out.append(f"{code.lines[pc]:5d} {pc:5d} {name:<22} {arg:<8} {note}")
    return "\n".join(out)
