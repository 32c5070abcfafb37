"""Compiler from a checked ast to the bytecode of bytecode.py.

compile_source(source, filename) -> Program: parse, check the subset (subset.py),
then generate code. Scoping follows Python's: in a function every name assigned
anywhere in its body (or a parameter) is local unless declared global; other names
are module globals, then built-ins. Names are resolved here, once: the VM indexes
locals and globals by slot and never looks a variable name up at run time.
"""
from __future__ import annotations

import ast
import sys

from gcheap.errors import SubsetError
from gcheap.interp import bytecode as bc
from gcheap.interp.bytecode import OP, ClassInfo, Code, Program
from gcheap.interp.subset import BUILTIN_NAMES, MODULE_ATTRS, parse_and_check


# Deeply nested expressions (a + a + ... thousands of times) recurse once per level
# in the checker and the code generator; Python 3.11's pure-Python calls do not use
# the C stack, so a higher limit is safe, and beyond it the program is rejected.
_COMPILE_RECURSION_LIMIT = 8000


def compile_source(source: str, filename: str = "<program>") -> Program:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, _COMPILE_RECURSION_LIMIT))
    try:
        tree = parse_and_check(source, filename)
        return _ModuleCompiler(filename).compile(tree)
    except RecursionError:
        raise SubsetError(filename, 1, 1, "program nested too deeply to compile") from None
    finally:
        sys.setrecursionlimit(old)


def compile_file(path: str) -> Program:
    with open(path, encoding="utf-8") as f:
        source = f.read()
    return compile_source(source, path)


def _assigned_names(stmts: list[ast.stmt]) -> tuple[set[str], set[str]]:
    """(names bound by these statements, names declared global), not descending into
    nested definitions (the checker allows none inside functions)."""
    bound: set[str] = set()
    declared: set[str] = set()

    def targets(t: ast.expr) -> None:
        if isinstance(t, ast.Name):
            bound.add(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                targets(e)

    for stmt in stmts:
        for n in _walk_scope(stmt):
            if isinstance(n, ast.Assign):
                for t in n.targets:
                    targets(t)
            elif isinstance(n, (ast.AugAssign, ast.For)):
                targets(n.target)
            elif isinstance(n, ast.ExceptHandler) and n.name:
                bound.add(n.name)
            elif isinstance(n, (ast.FunctionDef, ast.ClassDef)):
                bound.add(n.name)
            elif isinstance(n, ast.Global):
                declared.update(n.names)
    return bound, declared


def _walk_scope(node: ast.AST):
    """ast.walk that does not enter the bodies of function and class definitions
    (their names and default values belong to the enclosing scope)."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            if isinstance(n, ast.FunctionDef):
                todo.extend(n.args.defaults)
            continue
        todo.extend(ast.iter_child_nodes(n))


class _ModuleCompiler:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.codes: list[Code] = []
        self.classes: list[ClassInfo] = []
        self.global_names: list[str] = []
        self.global_index: dict[str, int] = {}
        self.modules: set[str] = set()

    def global_slot(self, name: str) -> int:
        if name not in self.global_index:
            self.global_index[name] = len(self.global_names)
            self.global_names.append(name)
        return self.global_index[name]

    def compile(self, tree: ast.Module) -> Program:
        for stmt in tree.body:
            if isinstance(stmt, ast.Import):
                self.modules.update(a.name for a in stmt.names)
        bound, _ = _assigned_names(tree.body)
        for stmt in tree.body:  # globals declared in functions are module globals too
            defs = [stmt] if isinstance(stmt, ast.FunctionDef) else \
                [s for s in stmt.body if isinstance(s, ast.FunctionDef)] \
                if isinstance(stmt, ast.ClassDef) else []
            for d in defs:
                bound |= _assigned_names(d.body)[1]
        for name in sorted(bound):
            self.global_slot(name)
        module = Code(name="<module>")
        self.codes.append(module)
        fc = _CodeCompiler(self, module, is_module=True, local_names=[], global_decls=set())
        fc.block(tree.body)
        fc.emit_const(None, 0)
        fc.emit("RETURN_VALUE", 0, 0)
        fc.finish()
        return Program(self.filename, self.codes, self.classes, self.global_names)

    def function(self, node: ast.FunctionDef, qualname: str) -> int:
        params = [a.arg for a in node.args.args]
        bound, declared = _assigned_names(node.body)
        local_names = params + sorted(n for n in bound - declared if n not in params)
        code = Code(name=qualname, argcount=len(params))
        index = len(self.codes)
        self.codes.append(code)
        fc = _CodeCompiler(self, code, is_module=False, local_names=local_names,
                           global_decls=declared)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        fc.block(body)
        fc.emit_const(None, node.end_lineno or node.lineno)
        fc.emit("RETURN_VALUE", 0, node.end_lineno or node.lineno)
        fc.finish()
        return index


class _Loop:
    def __init__(self, is_for: bool) -> None:
        self.is_for = is_for
        self.start = 0
        self.breaks: list[int] = []


class _Try:
    """A try body is active: break/continue/return crossing it pops its block."""


class _CodeCompiler:
    def __init__(self, mod: _ModuleCompiler, code: Code, is_module: bool,
                 local_names: list[str], global_decls: set[str]) -> None:
        self.mod = mod
        self.code = code
        self.is_module = is_module
        self.local_index = {n: i for i, n in enumerate(local_names)}
        code.local_names = list(local_names)
        self.global_decls = global_decls
        self.consts: dict = {}
        self.names: dict[str, int] = {}
        self.contexts: list = []          # _Loop / _Try, innermost last
        self.handler_slots: list[int] = []  # hidden local holding the exception being handled
        self.line = 1

    # ---- emission

    def emit(self, op: str, arg: int = 0, line: int | None = None) -> int:
        self.code.code.append(bc.encode(OP[op], arg))
        self.code.lines.append(self.line if line is None else line)
        return len(self.code.code) - 1

    def here(self) -> int:
        return len(self.code.code)

    def patch(self, pc: int, target: int) -> None:
        op, _ = bc.decode(self.code.code[pc])
        self.code.code[pc] = bc.encode(op, target)

    def const(self, value) -> int:
        key = (type(value), value if not isinstance(value, float) else repr(value))
        if key not in self.consts:
            self.consts[key] = len(self.code.consts)
            self.code.consts.append(value)
        return self.consts[key]

    def emit_const(self, value, line: int | None = None) -> None:
        self.emit("LOAD_CONST", self.const(value), line)

    def name_index(self, name: str) -> int:
        if name not in self.names:
            self.names[name] = len(self.code.names)
            self.code.names.append(name)
        return self.names[name]

    def hidden_slot(self) -> int:
        slot = len(self.code.local_names)
        self.code.local_names.append(f"$exc{slot}")
        return slot

    def finish(self) -> None:
        self.code.nlocals = len(self.code.local_names)
        self.code.max_stack = _max_stack(self.code)

    # ---- statements

    def block(self, stmts: list[ast.stmt]) -> None:
        for s in stmts:
            self.stmt(s)

    def stmt(self, node: ast.stmt) -> None:
        self.line = node.lineno
        method = getattr(self, "stmt_" + type(node).__name__)
        method(node)

    def stmt_Pass(self, node: ast.Pass) -> None:
        pass

    def stmt_Import(self, node: ast.Import) -> None:
        pass  # modules are resolved statically: time.perf_counter() is a built-in call

    def stmt_Global(self, node: ast.Global) -> None:
        pass

    def stmt_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # docstring-like statement: no effect
        self.expr(node.value)
        self.emit("POP")

    def stmt_Assign(self, node: ast.Assign) -> None:
        self.expr(node.value)
        for i, tgt in enumerate(node.targets):
            if i < len(node.targets) - 1:
                self.emit("DUP")
            self.store(tgt)

    def stmt_AugAssign(self, node: ast.AugAssign) -> None:
        opname = bc.BINARY_OPS[type(node.op).__name__]
        if opname in ("ADD", "MUL"):
            opname = "INPLACE_" + opname
        t = node.target
        if isinstance(t, ast.Name):
            self.load_name(t.id)
            self.expr(node.value)
            self.emit(opname)
            self.store_name(t.id)
        elif isinstance(t, ast.Attribute):
            self.expr(t.value)
            self.emit("DUP")
            self.emit("LOAD_ATTR", self.name_index(t.attr))
            self.expr(node.value)
            self.line = node.lineno
            self.emit(opname)
            self.emit("ROT2")
            self.emit("STORE_ATTR", self.name_index(t.attr))
        else:
            self.expr(t.value)
            self.expr(t.slice)
            self.emit("DUP2")
            self.emit("LOAD_SUBSCR")
            self.expr(node.value)
            self.line = node.lineno
            self.emit(opname)
            self.emit("ROT3")
            self.emit("STORE_SUBSCR")

    def stmt_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self.expr(t.value)
            self.expr(t.slice)
            self.line = node.lineno
            self.emit("DELETE_SUBSCR")

    def stmt_If(self, node: ast.If) -> None:
        self.expr(node.test)
        jf = self.emit("POP_JUMP_IF_FALSE")
        self.block(node.body)
        if node.orelse:
            jend = self.emit("JUMP")
            self.patch(jf, self.here())
            self.block(node.orelse)
            self.patch(jend, self.here())
        else:
            self.patch(jf, self.here())

    def stmt_While(self, node: ast.While) -> None:
        loop = _Loop(is_for=False)
        loop.start = self.here()
        exit_jump = None
        infinite = isinstance(node.test, ast.Constant) and bool(node.test.value)
        if not infinite:
            self.expr(node.test)
            exit_jump = self.emit("POP_JUMP_IF_FALSE")
        self.contexts.append(loop)
        self.block(node.body)
        self.contexts.pop()
        self.emit("LOOP", loop.start, node.lineno)
        end = self.here()
        if exit_jump is not None:
            self.patch(exit_jump, end)
        for pc in loop.breaks:
            self.patch(pc, end)

    def stmt_For(self, node: ast.For) -> None:
        self.expr(node.iter)
        self.line = node.lineno
        self.emit("GET_ITER")
        loop = _Loop(is_for=True)
        loop.start = self.emit("FOR_ITER")
        self.store(node.target)
        self.contexts.append(loop)
        self.block(node.body)
        self.contexts.pop()
        self.emit("LOOP", loop.start, node.lineno)
        end = self.here()
        self.patch(loop.start, end)
        for pc in loop.breaks:
            self.patch(pc, end)

    def _unwind_to_loop(self) -> _Loop:
        """Pop the handler blocks of try bodies between here and the innermost loop."""
        for ctx in reversed(self.contexts):
            if isinstance(ctx, _Loop):
                return ctx
            self.emit("POP_BLOCK")
        raise AssertionError("checker guarantees an enclosing loop")

    def stmt_Break(self, node: ast.Break) -> None:
        loop = self._unwind_to_loop()
        if loop.is_for:
            self.emit("POP")  # the iterator; FOR_ITER's exit target expects it gone
        loop.breaks.append(self.emit("JUMP"))

    def stmt_Continue(self, node: ast.Continue) -> None:
        loop = self._unwind_to_loop()
        self.emit("LOOP", loop.start)

    def stmt_Return(self, node: ast.Return) -> None:
        if node.value is None:
            self.emit_const(None)
        else:
            self.expr(node.value)
        self.line = node.lineno
        self.emit("RETURN_VALUE")  # leaving the frame drops its handler blocks

    def stmt_Raise(self, node: ast.Raise) -> None:
        if node.exc is None:
            self.emit("LOAD_LOCAL", self.handler_slots[-1])
            self.emit("RERAISE")
        else:
            self.expr(node.exc)
            self.line = node.lineno
            self.emit("RAISE")

    def stmt_Assert(self, node: ast.Assert) -> None:
        self.expr(node.test)
        jt = self.emit("POP_JUMP_IF_TRUE")
        if node.msg is not None:
            self.expr(node.msg)
        self.line = node.lineno
        self.emit("RAISE_ASSERT", 1 if node.msg is not None else 0)
        self.patch(jt, self.here())

    def stmt_Try(self, node: ast.Try) -> None:
        setup = self.emit("SETUP_EXCEPT")
        self.contexts.append(_Try())
        self.block(node.body)
        self.contexts.pop()
        self.emit("POP_BLOCK")
        ends = [self.emit("JUMP")]
        self.patch(setup, self.here())
        # The VM enters here with the exception pushed and the block already popped.
        slot = self.hidden_slot()
        self.line = node.handlers[0].lineno
        self.emit("STORE_LOCAL", slot)
        self.handler_slots.append(slot)
        for h in node.handlers:
            self.line = h.lineno
            nxt = None
            if h.type is not None:
                self.emit("LOAD_LOCAL", slot)
                if isinstance(h.type, ast.Tuple):
                    for t in h.type.elts:
                        self.emit("LOAD_BUILTIN", bc.BUILTIN_ID[t.id])
                    self.emit("BUILD_TUPLE", len(h.type.elts))
                else:
                    self.emit("LOAD_BUILTIN", bc.BUILTIN_ID[h.type.id])
                self.emit("EXC_MATCH")
                nxt = self.emit("POP_JUMP_IF_FALSE")
            if h.name is not None:
                self.emit("LOAD_LOCAL", slot)
                self.store_name(h.name)
            self.block(h.body)
            ends.append(self.emit("JUMP"))
            if nxt is not None:
                self.patch(nxt, self.here())
        self.handler_slots.pop()
        if node.handlers[-1].type is not None:
            self.emit("LOAD_LOCAL", slot)
            self.emit("RERAISE")
        for pc in ends:
            self.patch(pc, self.here())

    def stmt_FunctionDef(self, node: ast.FunctionDef) -> None:
        index = self.mod.function(node, node.name)
        for d in node.args.defaults:
            self.expr(d)
        self.line = node.lineno
        self.emit("MAKE_FUNCTION", index | len(node.args.defaults) << 16)
        self.store_name(node.name)

    def stmt_ClassDef(self, node: ast.ClassDef) -> None:
        slots: list[str] = []
        methods: list[str] = []
        for stmt in node.body:
            if isinstance(stmt, ast.Assign):
                slots = [e.value for e in stmt.value.elts]
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef):
                index = self.mod.function(stmt, f"{node.name}.{stmt.name}")
                for d in stmt.args.defaults:
                    self.expr(d)
                self.line = stmt.lineno
                self.emit("MAKE_FUNCTION", index | len(stmt.args.defaults) << 16)
                methods.append(stmt.name)
        self.mod.classes.append(ClassInfo(node.name, slots, methods))
        self.line = node.lineno
        self.emit("BUILD_CLASS", len(self.mod.classes) - 1 | len(methods) << 16)
        self.store_name(node.name)

    # ---- names and stores

    def scope_of(self, name: str) -> str:
        if not self.is_module:
            if name in self.global_decls:
                return "global"
            if name in self.local_index:
                return "local"
        if name in BUILTIN_NAMES and name not in self.mod.global_index:
            return "builtin"
        return "global"

    def load_name(self, name: str) -> None:
        if name == "__name__":
            self.emit_const("__main__")
            return
        scope = self.scope_of(name)
        if scope == "local":
            self.emit("LOAD_LOCAL", self.local_index[name])
        elif scope == "builtin":
            self.emit("LOAD_BUILTIN", bc.BUILTIN_ID[name])
        else:
            self.emit("LOAD_GLOBAL", self.mod.global_slot(name))

    def store_name(self, name: str) -> None:
        if self.scope_of(name) == "local":
            self.emit("STORE_LOCAL", self.local_index[name])
        else:
            self.emit("STORE_GLOBAL", self.mod.global_slot(name))

    def store(self, t: ast.expr) -> None:
        if isinstance(t, ast.Name):
            self.store_name(t.id)
        elif isinstance(t, ast.Attribute):
            self.expr(t.value)
            self.emit("STORE_ATTR", self.name_index(t.attr), t.lineno)
        elif isinstance(t, ast.Subscript):
            self.expr(t.value)
            self.expr(t.slice)
            self.emit("STORE_SUBSCR", 0, t.lineno)
        else:
            self.emit("UNPACK_SEQUENCE", len(t.elts), t.lineno)
            for e in t.elts:
                self.store(e)

    # ---- expressions

    def expr(self, node: ast.expr) -> None:
        saved = self.line
        self.line = node.lineno
        getattr(self, "expr_" + type(node).__name__)(node)
        self.line = saved

    def expr_Constant(self, node: ast.Constant) -> None:
        self.emit_const(node.value)

    def expr_Name(self, node: ast.Name) -> None:
        self.load_name(node.id)

    def expr_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in self.mod.modules:
            self.emit("LOAD_ARGV")  # sys.argv is the one module attribute that is loaded
            return
        self.expr(node.value)
        self.emit("LOAD_ATTR", self.name_index(node.attr))

    def expr_Subscript(self, node: ast.Subscript) -> None:
        self.expr(node.value)
        if isinstance(node.slice, ast.Slice):
            for part in (node.slice.lower, node.slice.upper):
                if part is None:
                    self.emit_const(None)
                else:
                    self.expr(part)
            self.emit("SLICE")
        else:
            self.expr(node.slice)
            self.emit("LOAD_SUBSCR")

    def expr_BinOp(self, node: ast.BinOp) -> None:
        self.expr(node.left)
        self.expr(node.right)
        self.emit(bc.BINARY_OPS[type(node.op).__name__])

    def expr_UnaryOp(self, node: ast.UnaryOp) -> None:
        self.expr(node.operand)
        self.emit(bc.UNARY_OPS[type(node.op).__name__])

    def expr_BoolOp(self, node: ast.BoolOp) -> None:
        op = "JUMP_IF_FALSE_OR_POP" if isinstance(node.op, ast.And) else "JUMP_IF_TRUE_OR_POP"
        jumps = []
        for v in node.values[:-1]:
            self.expr(v)
            jumps.append(self.emit(op))
        self.expr(node.values[-1])
        for pc in jumps:
            self.patch(pc, self.here())

    def expr_Compare(self, node: ast.Compare) -> None:
        self.expr(node.left)
        n = len(node.ops)
        cleanups = []
        for i, (op, right) in enumerate(zip(node.ops, node.comparators)):
            self.expr(right)
            if i < n - 1:
                self.emit("DUP")
                self.emit("ROT3")
            self.emit(bc.COMPARE_OPS[type(op).__name__])
            if i < n - 1:
                cleanups.append(self.emit("JUMP_IF_FALSE_OR_POP"))
        if cleanups:
            jend = self.emit("JUMP")
            for pc in cleanups:
                self.patch(pc, self.here())
            self.emit("ROT2")
            self.emit("POP")
            self.patch(jend, self.here())

    def expr_IfExp(self, node: ast.IfExp) -> None:
        self.expr(node.test)
        jf = self.emit("POP_JUMP_IF_FALSE")
        self.expr(node.body)
        jend = self.emit("JUMP")
        self.patch(jf, self.here())
        self.expr(node.orelse)
        self.patch(jend, self.here())

    def expr_List(self, node: ast.List) -> None:
        for e in node.elts:
            self.expr(e)
        self.emit("BUILD_LIST", len(node.elts))

    def expr_Tuple(self, node: ast.Tuple) -> None:
        for e in node.elts:
            self.expr(e)
        self.emit("BUILD_TUPLE", len(node.elts))

    def expr_Dict(self, node: ast.Dict) -> None:
        for k, v in zip(node.keys, node.values):
            self.expr(k)
            self.expr(v)
        self.emit("BUILD_DICT", len(node.keys))

    def expr_JoinedStr(self, node: ast.JoinedStr) -> None:
        for v in node.values:
            if isinstance(v, ast.Constant):
                self.emit_const(v.value)
            else:
                self.expr_FormattedValue(v)
        self.emit("BUILD_STRING", len(node.values))

    def expr_FormattedValue(self, node: ast.FormattedValue) -> None:
        self.expr(node.value)
        if node.format_spec is not None:
            self.emit_const("".join(c.value for c in node.format_spec.values))
            self.emit("FORMAT", 1)
        else:
            self.emit("FORMAT", 0)

    def expr_Call(self, node: ast.Call) -> None:
        f = node.func
        argc = len(node.args)
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                and f.value.id in self.mod.modules:
            for a in node.args:
                self.expr(a)
            self.line = node.lineno
            self.emit("CALL_BUILTIN", bc.BUILTIN_ID[f"{f.value.id}.{f.attr}"] | argc << 16)
            return
        if isinstance(f, ast.Name) and self.scope_of(f.id) == "builtin":
            for a in node.args:
                self.expr(a)
            if f.id == "print":
                flags = 0
                kws = {kw.arg: kw.value for kw in node.keywords}
                for bit, key in ((1, "sep"), (2, "end")):
                    if key in kws:
                        self.expr(kws[key])
                        flags |= bit
                self.line = node.lineno
                self.emit("CALL_PRINT", argc | flags << 16)
            else:
                self.line = node.lineno
                self.emit("CALL_BUILTIN", bc.BUILTIN_ID[f.id] | argc << 16)
            return
        if isinstance(f, ast.Attribute):
            self.expr(f.value)
            if any(not isinstance(a, ast.Constant) for a in node.args):
                self.emit("CHECK_METHOD", self.name_index(f.attr))
            for a in node.args:
                self.expr(a)
            self.line = node.lineno
            self.emit("CALL_METHOD", self.name_index(f.attr) | argc << 16)
            return
        self.expr(f)
        for a in node.args:
            self.expr(a)
        self.line = node.lineno
        self.emit("CALL", argc)


# ---- stack depth verification

def _effects(op: str, arg: int) -> list[tuple[int | None, int]]:
    """(successor pc or None for the next instruction, stack delta) pairs."""
    n16 = arg >> 16
    simple = {
        "NOP": 0, "LOAD_CONST": 1, "LOAD_LOCAL": 1, "STORE_LOCAL": -1, "LOAD_GLOBAL": 1,
        "STORE_GLOBAL": -1, "LOAD_BUILTIN": 1, "LOAD_ARGV": 1, "POP": -1, "DUP": 1,
        "DUP2": 2, "ROT2": 0, "ROT3": 0, "GET_ITER": 0, "LOAD_SUBSCR": -1,
        "STORE_SUBSCR": -3, "DELETE_SUBSCR": -2, "SLICE": -2, "LOAD_ATTR": 0,
        "STORE_ATTR": -2, "EXC_MATCH": -1, "POP_BLOCK": 0, "NEG": 0, "POS": 0, "NOT": 0,
        "INVERT": 0,
        "BUILD_LIST": 1 - arg, "BUILD_TUPLE": 1 - arg, "BUILD_DICT": 1 - 2 * arg,
        "BUILD_STRING": 1 - arg, "FORMAT": -arg, "UNPACK_SEQUENCE": arg - 1,
        "CALL": -arg, "CALL_METHOD": -n16, "CALL_BUILTIN": 1 - n16,
        "CALL_PRINT": -(arg & 0xFFFF) - bin(n16).count("1") + 1,
        "MAKE_FUNCTION": 1 - n16, "RAISE_ASSERT": None, "CHECK_METHOD": 0,
    }
    if op in ("ADD", "SUB", "MUL", "TRUEDIV", "FLOORDIV", "MOD", "POW", "LSHIFT", "RSHIFT",
              "AND", "OR", "XOR", "INPLACE_ADD", "INPLACE_MUL", "EQ", "NE", "LT", "LE",
              "GT", "GE", "IS", "IS_NOT", "IN", "NOT_IN"):
        return [(None, -1)]
    if op in ("JUMP", "LOOP"):
        return [(arg, 0)]
    if op in ("POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE"):
        return [(None, -1), (arg, -1)]
    if op in ("JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP"):
        return [(None, -1), (arg, 0)]
    if op == "FOR_ITER":
        return [(None, 1), (arg, -1)]
    if op in ("RETURN_VALUE", "RAISE", "RERAISE", "RAISE_ASSERT"):
        return []
    if op == "SETUP_EXCEPT":
        return [(None, 0), (arg, 1)]
    if op == "BUILD_CLASS":
        return [(None, 1 - n16)]
    return [(None, simple[op])]


def _max_stack(code: Code) -> int:
    """Depth of the operand stack at every reachable instruction, checked consistent."""
    depth: dict[int, int] = {0: 0}
    work = [0]
    best = 0
    while work:
        pc = work.pop()
        d = depth[pc]
        op, arg = bc.decode(code.code[pc])
        name = bc.NAMES[op]
        for succ, delta in _effects(name, arg):
            nd = d + delta
            target = pc + 1 if succ is None else succ
            if nd < 0:
                raise AssertionError(f"{code.name}: stack underflow at pc {pc}")
            if target >= len(code.code):
                raise AssertionError(f"{code.name}: falls off the end at pc {pc}")
            if target in depth:
                if depth[target] != nd:
                    raise AssertionError(f"{code.name}: inconsistent stack depth at pc {target}")
            else:
                depth[target] = nd
                work.append(target)
            best = max(best, nd)
    return best + 1
