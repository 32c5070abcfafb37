"""Reference evaluator of the bytecode, in Python: the compiler's test oracle.

It gives the bytecode a meaning independent of the C VM: the differential tests run
every program through compile -> refvm and compare with CPython running the source,
so a compiler bug shows up without the managed heap in the picture. Values are plain
Python objects (instances of a generated __slots__ class per program class). It is
not the interpreter `gcheap run` uses (that is the C VM on the managed heap) and it is
slow; it exists to pin down semantics, including the subset's 64-bit int overflow.
"""
from __future__ import annotations

import io
import sys
import time

from gcheap.errors import ProgramError
from gcheap.interp import bytecode as bc
from gcheap.interp.bytecode import Code, Program

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
RECURSION_LIMIT = 1000

EXCEPTIONS = {name: getattr(__import__("builtins"), name)
              for name in bc.BUILTINS if name[0].isupper()}
BUILTIN_METHODS = {
    list: ("append", "pop", "insert", "index"),
    dict: ("get", "keys", "values", "items"),
    str: ("join",),
}


class Function:
    __slots__ = ("code", "defaults")

    def __init__(self, code: Code, defaults: tuple) -> None:
        self.code, self.defaults = code, defaults


class Class:
    __slots__ = ("name", "methods", "pyclass")

    def __init__(self, name: str, slots: list[str], methods: dict) -> None:
        self.name = name
        self.methods = methods
        self.pyclass = type(name, (), {"__slots__": tuple(slots), "__module__": "__main__"})


class BoundMethod:
    __slots__ = ("self_", "func")

    def __init__(self, self_, func) -> None:
        self.self_, self.func = self_, func


class _Block:
    __slots__ = ("handler", "depth")

    def __init__(self, handler: int, depth: int) -> None:
        self.handler, self.depth = handler, depth


def check_int(v):
    if type(v) is int and not INT64_MIN <= v <= INT64_MAX:
        raise OverflowError("integer overflow (gcheap ints are 64-bit)")
    return v


def type_name(v) -> str:
    return type(v).__name__


class RefVM:
    def __init__(self, program: Program, argv: list[str], stdout=None) -> None:
        self.program = program
        self.argv = list(argv)
        self.out = stdout if stdout is not None else sys.stdout
        self.globals: list = [_UNSET] * len(program.global_names)
        self.depth = 0
        self.builtins = [self._builtin(name) for name in bc.BUILTINS]

    # ---- built-ins

    def _builtin(self, name: str):
        if name in EXCEPTIONS:
            return EXCEPTIONS[name]
        table = {
            "print": self.print_, "len": len, "range": _range, "abs": _abs,
            "min": min, "max": max, "isinstance": self.isinstance_, "str": str,
            "int": _int, "float": float, "bool": bool, "list": list, "dict": dict,
            "tuple": tuple, "time.perf_counter": time.perf_counter,
            "gc.collect": lambda: 0, "gc.heap_stats": _no_heap_stats,
        }
        return table[name]

    def print_(self, *args, sep=" ", end="\n"):
        self.out.write(sep.join(self.str_(a) for a in args) + end)

    def str_(self, v) -> str:
        return str(v)

    def isinstance_(self, obj, types):
        if not isinstance(types, tuple):
            types = (types,)
        for t in types:
            t = _AS_TYPE.get(t, t)
            if isinstance(t, Class):
                if isinstance(obj, t.pyclass):
                    return True
            elif isinstance(t, type):
                if isinstance(obj, t):
                    return True
            else:
                raise TypeError("isinstance() arg 2 must be a type, a tuple of types, or a union")
        return False

    # ---- running

    def run(self) -> None:
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, 20 * RECURSION_LIMIT))
        try:
            self.call_code(self.program.codes[0], [])
        except BaseException as e:  # noqa: BLE001 - a program exception, report it
            if isinstance(e, (KeyboardInterrupt, SystemExit)) or not hasattr(e, "gcheap_tb"):
                raise
            raise ProgramError(type(e).__name__, str(e), self.format_traceback(e)) from None
        finally:
            sys.setrecursionlimit(old)

    def format_traceback(self, e: BaseException) -> str:
        lines = ["Traceback (most recent call last):"]
        for name, line in reversed(e.gcheap_tb):
            lines.append(f'  File "{self.program.filename}", line {line}, in {name}')
        msg = str(e)
        lines.append(f"{type(e).__name__}: {msg}" if msg else type(e).__name__)
        return "\n".join(lines) + "\n"

    def call(self, f, args: list):
        if isinstance(f, Function):
            code = f.code
            n = len(args)
            if n > code.argcount or n + len(f.defaults) < code.argcount:
                missing = code.argcount - len(f.defaults)
                raise TypeError(f"{code.name.split('.')[-1]}() takes {code.argcount} positional "
                                f"arguments but {n} were given" if n > code.argcount else
                                f"{code.name.split('.')[-1]}() missing required arguments "
                                f"(needs at least {missing}, got {n})")
            if n < code.argcount:
                args = args + list(f.defaults[n - (code.argcount - len(f.defaults)):])
            return self.call_code(code, args)
        if isinstance(f, BoundMethod):
            return self.call(f.func, [f.self_] + args)
        if isinstance(f, Class):
            obj = f.pyclass.__new__(f.pyclass)
            init = f.methods.get("__init__")
            if init is not None:
                self.call(init, [obj] + args)
            elif args:
                raise TypeError(f"{f.name}() takes no arguments")
            return obj
        if callable(f) and not isinstance(f, (Class,)):
            if f is _range or f in EXCEPTIONS.values() or f in self.builtins:
                return f(*args)
        raise TypeError(f"'{type_name(f)}' object is not callable")

    def call_code(self, code: Code, args: list):
        if self.depth >= RECURSION_LIMIT:
            raise RecursionError("maximum recursion depth exceeded")
        self.depth += 1
        try:
            return self.execute(code, args)
        finally:
            self.depth -= 1

    def execute(self, code: Code, args: list):
        locals_ = args + [_UNSET] * (code.nlocals - len(args))
        stack: list = []
        blocks: list[_Block] = []
        insns = code.code
        pc = 0
        while True:
            insn = insns[pc]
            op, arg = insn & 0xFF, insn >> 8
            pc += 1
            try:
                result = self.step(code, op, arg, stack, locals_, blocks)
                if result is not None:
                    kind, value = result
                    if kind == "jump":
                        pc = value
                    else:
                        return value
            except Exception as e:  # noqa: BLE001 - program exceptions unwind here
                if not hasattr(e, "gcheap_tb"):
                    e.gcheap_tb = []
                if not getattr(e, "gcheap_reraise", False):
                    e.gcheap_tb.append((code.name.split(".")[-1], code.lines[pc - 1]))
                e.gcheap_reraise = False
                if isinstance(e, RecursionError) and self.depth >= RECURSION_LIMIT - 1 \
                        and not blocks:
                    raise
                if not blocks:
                    raise
                b = blocks.pop()
                del stack[b.depth:]
                stack.append(e)
                pc = b.handler

    def step(self, code: Code, op: int, arg: int, stack: list, locals_: list, blocks: list):
        name = bc.NAMES[op]
        if name == "LOAD_CONST":
            stack.append(code.consts[arg])
        elif name == "LOAD_LOCAL":
            v = locals_[arg]
            if v is _UNSET:
                raise UnboundLocalError(f"cannot access local variable '{code.local_names[arg]}'"
                                        " where it is not associated with a value")
            stack.append(v)
        elif name == "STORE_LOCAL":
            locals_[arg] = stack.pop()
        elif name == "LOAD_GLOBAL":
            v = self.globals[arg]
            if v is _UNSET:
                raise NameError(f"name '{self.program.global_names[arg]}' is not defined")
            stack.append(v)
        elif name == "STORE_GLOBAL":
            self.globals[arg] = stack.pop()
        elif name == "LOAD_BUILTIN":
            stack.append(self.builtins[arg])
        elif name == "LOAD_ARGV":
            stack.append(self.argv)
        elif name == "POP":
            stack.pop()
        elif name == "DUP":
            stack.append(stack[-1])
        elif name == "DUP2":
            stack.extend(stack[-2:])
        elif name == "ROT2":
            stack[-1], stack[-2] = stack[-2], stack[-1]
        elif name == "ROT3":
            c = stack.pop()
            stack.insert(len(stack) - 2, c)
        elif name in _BINARY:
            b = stack.pop()
            a = stack.pop()
            if name == "INPLACE_ADD" and type(a) is list:
                a += b
                stack.append(a)
            elif name == "INPLACE_MUL" and type(a) is list:
                a *= b
                stack.append(a)
            else:
                stack.append(check_int(_BINARY[name](a, b)))
        elif name in _UNARY:
            stack.append(check_int(_UNARY[name](stack.pop())))
        elif name in _COMPARE:
            b = stack.pop()
            a = stack.pop()
            stack.append(_COMPARE[name](a, b))
        elif name == "JUMP":
            return ("jump", arg)
        elif name == "LOOP":
            return ("jump", arg)
        elif name == "POP_JUMP_IF_FALSE":
            if not stack.pop():
                return ("jump", arg)
        elif name == "POP_JUMP_IF_TRUE":
            if stack.pop():
                return ("jump", arg)
        elif name == "JUMP_IF_FALSE_OR_POP":
            if not stack[-1]:
                return ("jump", arg)
            stack.pop()
        elif name == "JUMP_IF_TRUE_OR_POP":
            if stack[-1]:
                return ("jump", arg)
            stack.pop()
        elif name == "GET_ITER":
            stack.append(iter(stack.pop()))
        elif name == "FOR_ITER":
            try:
                stack.append(next(stack[-1]))
            except StopIteration:
                stack.pop()
                return ("jump", arg)
        elif name == "BUILD_LIST":
            items = stack[len(stack) - arg:]
            del stack[len(stack) - arg:]
            stack.append(items)
        elif name == "BUILD_TUPLE":
            items = tuple(stack[len(stack) - arg:])
            del stack[len(stack) - arg:]
            stack.append(items)
        elif name == "BUILD_DICT":
            items = stack[len(stack) - 2 * arg:]
            del stack[len(stack) - 2 * arg:]
            d = {}
            for i in range(0, len(items), 2):
                d[items[i]] = items[i + 1]
            stack.append(d)
        elif name == "BUILD_STRING":
            items = stack[len(stack) - arg:]
            del stack[len(stack) - arg:]
            stack.append("".join(items))
        elif name == "FORMAT":
            spec = stack.pop() if arg else ""
            stack.append(format(stack.pop(), spec))
        elif name == "UNPACK_SEQUENCE":
            seq = stack.pop()
            if not isinstance(seq, (list, tuple, str, dict, range)):
                raise TypeError(f"cannot unpack non-iterable {type_name(seq)} object")
            seq = list(seq)
            if len(seq) != arg:
                raise ValueError(f"too many values to unpack (expected {arg})"
                                 if len(seq) > arg else
                                 f"not enough values to unpack (expected {arg}, got {len(seq)})")
            stack.extend(reversed(seq))
        elif name == "LOAD_SUBSCR":
            k = stack.pop()
            stack.append(stack.pop()[k])
        elif name == "STORE_SUBSCR":
            k = stack.pop()
            obj = stack.pop()
            obj[k] = stack.pop()
        elif name == "DELETE_SUBSCR":
            k = stack.pop()
            del stack.pop()[k]
        elif name == "SLICE":
            hi = stack.pop()
            lo = stack.pop()
            stack.append(stack.pop()[lo:hi])
        elif name == "LOAD_ATTR":
            stack.append(self.load_attr(stack.pop(), code.names[arg]))
        elif name == "STORE_ATTR":
            obj = stack.pop()
            v = stack.pop()
            if type(obj) in (list, dict, str, tuple, int, float, bool, type(None)) \
                    or isinstance(obj, (Function, Class, BoundMethod, BaseException)):
                raise AttributeError(f"'{type_name(obj)}' object has no attribute "
                                     f"'{code.names[arg]}'")
            setattr(obj, code.names[arg], v)
        elif name == "CALL":
            args = stack[len(stack) - arg:]
            del stack[len(stack) - arg:]
            f = stack.pop()
            stack.append(self.call(f, args))
        elif name == "CALL_METHOD":
            n = arg >> 16
            args = stack[len(stack) - n:]
            del stack[len(stack) - n:]
            obj = stack.pop()
            stack.append(self.call_method(obj, code.names[arg & 0xFFFF], args))
        elif name == "CALL_BUILTIN":
            n = arg >> 16
            args = stack[len(stack) - n:]
            del stack[len(stack) - n:]
            stack.append(self.call(self.builtins[arg & 0xFFFF], args))
        elif name == "CALL_PRINT":
            n = arg & 0xFFFF
            flags = arg >> 16
            kw = {}
            if flags & 2:
                kw["end"] = stack.pop()
            if flags & 1:
                kw["sep"] = stack.pop()
            args = stack[len(stack) - n:]
            del stack[len(stack) - n:]
            for k, v in kw.items():
                if v is None:
                    del kw[k]
                    break
            for v in kw.values():
                if not isinstance(v, str):
                    raise TypeError(f"sep and end must be None or a string, not {type_name(v)}")
            self.print_(*args, **kw)
            stack.append(None)
        elif name == "RETURN_VALUE":
            return ("return", stack.pop())
        elif name == "MAKE_FUNCTION":
            n = arg >> 16
            defaults = tuple(stack[len(stack) - n:])
            del stack[len(stack) - n:]
            stack.append(Function(self.program.codes[arg & 0xFFFF], defaults))
        elif name == "BUILD_CLASS":
            info = self.program.classes[arg & 0xFFFF]
            n = arg >> 16
            funcs = stack[len(stack) - n:]
            del stack[len(stack) - n:]
            stack.append(Class(info.name, info.slots, dict(zip(info.methods, funcs))))
        elif name == "SETUP_EXCEPT":
            blocks.append(_Block(arg, len(stack)))
        elif name == "POP_BLOCK":
            blocks.pop()
        elif name == "EXC_MATCH":
            t = stack.pop()
            stack.append(isinstance(stack.pop(), t))
        elif name == "RAISE":
            v = stack.pop()
            if isinstance(v, type) and issubclass(v, BaseException):
                v = v()
            if not isinstance(v, BaseException):
                raise TypeError("exceptions must derive from BaseException")
            v.gcheap_tb = []
            raise v
        elif name == "RERAISE":
            e = stack.pop()
            e.gcheap_reraise = True
            raise e
        elif name == "RAISE_ASSERT":
            if arg:
                raise AssertionError(stack.pop())
            raise AssertionError
        elif name == "NOP":
            pass
        elif name == "CHECK_METHOD":
            obj = stack[-1]
            attr = code.names[arg]
            allowed = BUILTIN_METHODS.get(type(obj))
            if allowed is not None:
                if attr not in allowed:
                    raise AttributeError(f"'{type_name(obj)}' object has no attribute '{attr}'")
            else:
                self.load_attr(obj, attr)
        else:
            raise AssertionError(f"unknown opcode {name}")
        return None

    def load_attr(self, obj, attr: str):
        cls = _class_of.get(type(obj))
        if cls is not None and attr in cls.methods:
            return BoundMethod(obj, cls.methods[attr])
        if type(obj) in BUILTIN_METHODS or isinstance(obj, (Function, Class, BoundMethod)) \
                or type(obj) in (int, float, bool, tuple, type(None)):
            raise AttributeError(f"'{type_name(obj)}' object has no attribute '{attr}'")
        return getattr(obj, attr)

    def call_method(self, obj, attr: str, args: list):
        allowed = BUILTIN_METHODS.get(type(obj))
        if allowed is not None:
            if attr not in allowed:
                raise AttributeError(f"'{type_name(obj)}' object has no attribute '{attr}'")
            return getattr(obj, attr)(*args)
        return self.call(self.load_attr(obj, attr), args)


class _Unset:
    __slots__ = ()


_UNSET = _Unset()
_class_of: dict = {}   # pyclass -> Class, filled by Class()
_orig_class_init = Class.__init__


def _class_init(self, name, slots, methods):
    _orig_class_init(self, name, slots, methods)
    _class_of[self.pyclass] = self


Class.__init__ = _class_init


def _range(*args):
    for a in args:
        if type(a) is not int and type(a) is not bool:
            raise TypeError(f"'{type_name(a)}' object cannot be interpreted as an integer")
    return range(*args)


def _abs(v):
    return check_int(abs(v))


def _int(v=0):
    return check_int(int(v))


_AS_TYPE = {_int: int, _range: range}


def _no_heap_stats():
    raise AttributeError("module 'gc' has no attribute 'heap_stats'")


_BINARY = {
    "ADD": lambda a, b: a + b, "SUB": lambda a, b: a - b, "MUL": lambda a, b: a * b,
    "TRUEDIV": lambda a, b: a / b, "FLOORDIV": lambda a, b: a // b, "MOD": lambda a, b: a % b,
    "POW": lambda a, b: a ** b, "LSHIFT": lambda a, b: a << b, "RSHIFT": lambda a, b: a >> b,
    "AND": lambda a, b: a & b, "OR": lambda a, b: a | b, "XOR": lambda a, b: a ^ b,
    "INPLACE_ADD": lambda a, b: a + b, "INPLACE_MUL": lambda a, b: a * b,
}
_UNARY = {"NEG": lambda v: -v, "POS": lambda v: +v, "NOT": lambda v: not v,
          "INVERT": lambda v: ~v}
_COMPARE = {
    "EQ": lambda a, b: a == b, "NE": lambda a, b: a != b, "LT": lambda a, b: a < b,
    "LE": lambda a, b: a <= b, "GT": lambda a, b: a > b, "GE": lambda a, b: a >= b,
    "IS": lambda a, b: a is b, "IS_NOT": lambda a, b: a is not b,
    "IN": lambda a, b: a in b, "NOT_IN": lambda a, b: a not in b,
}


def run_program(program: Program, argv: list[str]) -> str:
    """Run under the reference evaluator; return stdout. Raises ProgramError."""
    out = io.StringIO()
    vm = RefVM(program, argv, out)
    try:
        vm.run()
    except ProgramError as e:
        e.stdout = out.getvalue()
        raise
    return out.getvalue()
