"""Compiler from a checked ast to the bytecode of bytecode.py.

compile_file(path) / compile_source(source, filename) -> Program: parse and check
(subset.py), resolve every name once (symtable.py: locals, cells and globals
become slot numbers, built-ins ids), emit code for the main module and for every
library module it imports (src/gcheap/interp/lib/*.py, compiled the same way),
and verify each code object's stack depth. Native modules (math, time, ...) are
resolved by the VM at import time; a module found nowhere raises
ModuleNotFoundError when its import runs, as under CPython.
"""
from __future__ import annotations

import ast
import gc
import os
import sys

from gcheap.errors import SubsetError
from gcheap.interp import bytecode as bc
from gcheap.interp.bytecode import OP, Code, ModuleInfo, Program
from gcheap.interp.subset import parse_and_check
from gcheap.interp.symtable import CELL, FREE, GLOBAL, LOCAL, NAME, Scope, SymbolTable

# Deeply nested expressions recurse once per level in the checker and the code
# generator; Python 3.11's pure-Python calls do not use the C stack, so a higher
# limit is safe, and beyond it the program is rejected.
_COMPILE_RECURSION_LIMIT = 8000

LIB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")
# Modules implemented in C (csrc/interp/modules.c; a test checks the two lists).
NATIVE_MODULES = ("math", "_random", "array", "gc", "time", "sys")

# The loader's bounds (load.c): globals, code objects and each code's locals,
# constants, names and stack depth; instructions per code object; modules.
LIMIT = 60000
CODE_LIMIT = 1 << 24
MODULE_LIMIT = 1000


def compile_source(source: str, filename: str = "<program>") -> Program:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, _COMPILE_RECURSION_LIMIT))
    # the trees and tables are acyclic garbage or live to the end: CPython's
    # cycle collector would only rescan them (a fifth of the compile time)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _ProgramCompiler(filename).compile_main(source)
    except RecursionError:
        raise SubsetError(filename, 1, 1, "program nested too deeply to compile") from None
    finally:
        sys.setrecursionlimit(old)
        if was_enabled:
            gc.enable()


def compile_file(path: str) -> Program:
    with open(path, encoding="utf-8") as f:
        source = f.read()
    return compile_source(source, path)


def library_source(name: str) -> str | None:
    """The source of library module `name` in lib/ (a package: its __init__.py)."""
    base = os.path.join(LIB_DIR, name.replace(".", os.sep))
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


class _ProgramCompiler:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.codes: list[Code] = []
        self.modules: list[ModuleInfo] = []
        self.module_index: dict[str, int] = {}
        self.global_names: list[str] = []
        self.pending: list[tuple[int, str, str]] = []
        self.library_paths: list[str] = []

    def compile_main(self, source: str) -> Program:
        self.modules.append(ModuleInfo("__main__", "python"))
        self.module_index["__main__"] = 0
        self._compile_module(0, source, self.filename)
        while self.pending:
            index, path, name = self.pending.pop(0)
            self.library_paths.append(path)
            with open(path, encoding="utf-8") as f:
                src = f.read()
            self._compile_module(index, src, path)
        for what, n, limit in (("global names", len(self.global_names), LIMIT),
                               ("functions and classes", len(self.codes), LIMIT),
                               ("modules", len(self.modules), MODULE_LIMIT)):
            if n > limit:
                raise SubsetError(self.filename, 1, 1,
                                  f"program too large: {n} {what} (the limit is {limit})")
        return Program(self.filename, self.codes, self.modules, self.global_names, self.library_paths)

    def module_ref(self, name: str) -> int:
        """Index of module `name` in the program (compiled on first reference)."""
        if name in self.module_index:
            return self.module_index[name]
        index = len(self.modules)
        path = library_source(name)
        if path is not None:
            self.modules.append(ModuleInfo(name, "python"))
            self.pending.append((index, path, name))
        elif name in NATIVE_MODULES:
            self.modules.append(ModuleInfo(name, "native"))
        else:
            self.modules.append(ModuleInfo(name, "missing"))
        self.module_index[name] = index
        return index

    def _compile_module(self, index: int, source: str, filename: str) -> None:
        tree = parse_and_check(source, filename)
        table = SymbolTable(tree)
        info = self.modules[index]
        info.global_start = len(self.global_names)
        gmap: dict[str, int] = {}
        for name in sorted(table.module_bound):
            gmap[name] = len(self.global_names)
            self.global_names.append(name)
        info.nglobals = len(gmap)
        mod = _ModuleContext(self, index, info.name, filename, table, gmap)
        code = Code(name="<module>", qualname="<module>", module=index)
        info.code = len(self.codes)
        self.codes.append(code)
        cg = _CodeGen(mod, code, table.module, tree)
        cg.block(tree.body)
        cg.emit_const(None, 0)
        cg.emit("RETURN_VALUE", 0, 0)
        cg.finish()


class _ModuleContext:
    def __init__(self, prog: _ProgramCompiler, index: int, name: str, filename: str,
                 table: SymbolTable, gmap: dict[str, int]) -> None:
        self.prog = prog
        self.index = index
        self.name = name
        self.filename = filename
        self.table = table
        self.gmap = gmap

    def fail(self, node: ast.AST, what: str) -> None:
        raise SubsetError(self.filename, getattr(node, "lineno", 1),
                          getattr(node, "col_offset", 0) + 1, what)

    def unsupported(self, node: ast.AST, what: str) -> None:
        self.fail(node, f"{what} is not supported in the gcheap subset")


class _Label:
    __slots__ = ("pc", "refs")

    def __init__(self) -> None:
        self.pc = -1
        self.refs: list[int] = []


# Contexts a break/continue/return may have to leave (innermost last).
class _Loop:
    def __init__(self, start: _Label, end: _Label, is_for: bool) -> None:
        self.start, self.end, self.is_for = start, end, is_for


class _TryBlock:
    """A SETUP_EXCEPT block is active (try body with handlers)."""


class _Finally:
    def __init__(self, body: list[ast.stmt]) -> None:
        self.body = body


class _With:
    """A with body: a handler block and the exit callable on the stack."""


class _CodeGen:
    def __init__(self, mod: _ModuleContext, code: Code, scope: Scope, node: ast.AST,
                 qual_prefix: str = "") -> None:
        self.mod = mod
        self.code = code
        self.scope = scope
        self.node = node
        self.qual_prefix = qual_prefix
        self.consts: dict = {}
        self.names: dict[str, int] = {}
        self.contexts: list = []
        self.handler_slots: list[int] = []
        self.line = getattr(node, "lineno", 1) if not isinstance(node, ast.Module) else 1
        self.local_index: dict[str, int] = {}
        self.free_names: list[str] = []
        self._layout()

    # ---- frame layout: parameters, locals and cells, hidden slots, free variables

    def _layout(self) -> None:
        s = self.scope
        names: list[str] = []
        if s.kind == "function":
            names = list(s.params)
            rest = sorted(n for n, k in s.kinds.items() if k in (LOCAL, CELL) and n not in s.params)
            names += rest
        elif s.kind == "class":
            names = ["$ns"] + sorted(n for n, k in s.kinds.items() if k == CELL)
        for n in names:
            self.local_index[n] = len(self.code.local_names)
            self.code.local_names.append(n)
        self.free_names = sorted(s.free)

    def hidden_slot(self, tag: str = "tmp") -> int:
        slot = len(self.code.local_names)
        self.code.local_names.append(f"${tag}{slot}")
        return slot

    def finish(self) -> None:
        # free variables go last: the VM fills them from the closure at each call
        for n in self.free_names:
            self.local_index[n] = len(self.code.local_names)
            self.code.local_names.append(n)
        self.code.nfree = len(self.free_names)
        self.code.nlocals = len(self.code.local_names)
        self._resolve_free_slots()
        try:
            self.code.max_stack = _max_stack(self.code)
        except _TooManyNulls:
            self.mod.fail(self.node, f"{self.code.qualname} nests more than {NULL_LIMIT} calls "
                          "inside one another's arguments")
        c = self.code
        for what, n in (("local variables", c.nlocals), ("constants", len(c.consts)),
                        ("attribute names", len(c.names)), ("operand stack slots", c.max_stack)):
            if n > LIMIT:
                self.mod.fail(self.node, f"{c.qualname} is too large: {n} {what} (the limit is {LIMIT})")
        if len(c.code) > CODE_LIMIT:
            self.mod.fail(self.node, f"{c.qualname} is too large: {len(c.code)} instructions")

    def _resolve_free_slots(self) -> None:
        # instructions naming a free variable were emitted with a placeholder
        # (0x800000 | index into free_names): patch the real slot now
        base = self.code.nlocals - self.code.nfree
        for pc, insn in enumerate(self.code.code):
            op, arg = bc.decode(insn)
            if bc.NAMES[op] in ("LOAD_DEREF", "STORE_DEREF", "DELETE_DEREF", "LOAD_CLOSURE") \
                    and arg & 0x800000:
                self.code.code[pc] = bc.encode(op, base + (arg & 0x7FFFFF))

    # ---- emission

    def emit(self, op: str, arg: int = 0, line: int | None = None) -> int:
        self.code.code.append(bc.encode(OP[op], arg))
        self.code.lines.append(self.line if line is None else line)
        return len(self.code.code) - 1

    def emit_jump(self, op: str, label: _Label, line: int | None = None) -> None:
        pc = self.emit(op, 0, line)
        if label.pc >= 0:
            self.patch(pc, label.pc)
        else:
            label.refs.append(pc)

    def bind(self, label: _Label) -> None:
        label.pc = len(self.code.code)
        for pc in label.refs:
            self.patch(pc, label.pc)
        label.refs = []

    def patch(self, pc: int, target: int) -> None:
        op, _ = bc.decode(self.code.code[pc])
        self.code.code[pc] = bc.encode(op, target)

    def const(self, value) -> int:
        key = _const_key(value)
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

    # ---- names

    def _deref_arg(self, name: str) -> int:
        if name in self.local_index:
            return self.local_index[name]
        return 0x800000 | self.free_names.index(name)

    def _scope_kind(self, name: str) -> str:
        s = self.scope
        k = s.kinds.get(name)
        if k is None:
            return NAME if s.kind == "class" else GLOBAL
        if s.kind == "class" and k == FREE and name in s.bound:
            return NAME
        return k

    def _global_op(self, name: str) -> tuple[str, int]:
        g = self.mod.gmap.get(name)
        if g is None:
            if name in bc.BUILTIN_ID:
                return "LOAD_BUILTIN", bc.BUILTIN_ID[name]
            g = self._add_global(name)
        return "LOAD_GLOBAL", g

    def _add_global(self, name: str) -> int:
        # a name read but bound nowhere in the module: a global slot that stays
        # unset (NameError when read). The module being compiled is always the
        # last one laid out, so its globals stay contiguous.
        g = len(self.mod.prog.global_names)
        self.mod.prog.global_names.append(name)
        info = self.mod.prog.modules[self.mod.index]
        assert info.global_start + info.nglobals == g
        info.nglobals += 1
        self.mod.gmap[name] = g
        return g

    def load_name(self, name: str) -> None:
        if name in ("__name__", "__file__") and name not in self.mod.table.module_bound:
            self.emit_const(self.mod.name if name == "__name__" else self.mod.filename)
            return
        k = self._scope_kind(name)
        if k == LOCAL:
            self.emit("LOAD_LOCAL", self.local_index[name])
        elif k in (CELL, FREE):
            self.emit("LOAD_DEREF", self._deref_arg(name))
        elif k == NAME:
            self.emit("LOAD_NAME", self.name_index(name))
        else:
            op, arg = self._global_op(name)
            self.emit(op, arg)

    def store_name(self, name: str) -> None:
        k = self._scope_kind(name)
        if k == LOCAL:
            self.emit("STORE_LOCAL", self.local_index[name])
        elif k in (CELL, FREE):
            self.emit("STORE_DEREF", self._deref_arg(name))
        elif k == NAME:
            self.emit("STORE_NAME", self.name_index(name))
        else:
            g = self.mod.gmap.get(name)
            if g is None:
                g = self._add_global(name)
            self.emit("STORE_GLOBAL", g)

    def delete_name(self, name: str) -> None:
        k = self._scope_kind(name)
        if k == LOCAL:
            self.emit("DELETE_LOCAL", self.local_index[name])
        elif k in (CELL, FREE):
            self.emit("DELETE_DEREF", self._deref_arg(name))
        elif k == NAME:
            self.mod.unsupported(self.node, "del of a class attribute name in the class body")
        else:
            g = self.mod.gmap.get(name)
            if g is None:
                g = self._add_global(name)
            self.emit("DELETE_GLOBAL", g)

    def is_builtin_ref(self, name: str) -> bool:
        return (self._scope_kind(name) == GLOBAL and name not in self.mod.gmap
                and name in bc.BUILTIN_ID)

    # ---- statements

    def block(self, stmts: list[ast.stmt]) -> None:
        for s in stmts:
            self.stmt(s)

    def stmt(self, node: ast.stmt) -> None:
        self.line = node.lineno
        method = getattr(self, "stmt_" + type(node).__name__, None)
        if method is None:
            self.mod.unsupported(node, f"statement '{type(node).__name__}'")
        method(node)

    def stmt_Pass(self, node: ast.Pass) -> None:
        pass

    def stmt_Global(self, node: ast.Global) -> None:
        pass

    stmt_Nonlocal = stmt_Global

    def stmt_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Constant):
            return  # docstrings and other constant statements: no effect
        self.expr(node.value)
        self.emit("POP")

    def stmt_Assign(self, node: ast.Assign) -> None:
        self.expr(node.value)
        for i, tgt in enumerate(node.targets):
            if i < len(node.targets) - 1:
                self.emit("DUP")
            self.store(tgt)

    def stmt_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.expr(node.value)
            self.store(node.target)

    def stmt_AugAssign(self, node: ast.AugAssign) -> None:
        opname = "INPLACE_" + bc.BINARY_OPS[type(node.op).__name__]
        t = node.target
        if isinstance(t, ast.Name):
            self.load_name(t.id)
            self.expr(node.value)
            self.line = node.lineno
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
            self.subscript_key(t.slice)
            self.emit("DUP2")
            self.emit("LOAD_SUBSCR")
            self.expr(node.value)
            self.line = node.lineno
            self.emit(opname)
            self.emit("ROT3")
            self.emit("STORE_SUBSCR")

    def stmt_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self.delete(t)

    def delete(self, t: ast.expr) -> None:
        if isinstance(t, ast.Name):
            self.delete_name(t.id)
        elif isinstance(t, ast.Attribute):
            self.expr(t.value)
            self.emit("DELETE_ATTR", self.name_index(t.attr), t.lineno)
        elif isinstance(t, ast.Subscript):
            self.expr(t.value)
            self.subscript_key(t.slice)
            self.emit("DELETE_SUBSCR", 0, t.lineno)
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                self.delete(e)
        else:
            self.mod.fail(t, "cannot delete this expression")

    def stmt_If(self, node: ast.If) -> None:
        end = _Label()
        orelse = _Label()
        self.cond_jump(node.test, False, orelse)
        self.block(node.body)
        if node.orelse:
            self.emit_jump("JUMP", end)
            self.bind(orelse)
            self.block(node.orelse)
        else:
            self.bind(orelse)
        self.bind(end)

    def cond_jump(self, test: ast.expr, when: bool, label: _Label) -> None:
        """Jump to label when bool(test) == when; fall through otherwise."""
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            self.cond_jump(test.operand, not when, label)
            return
        if isinstance(test, ast.BoolOp):
            is_and = isinstance(test.op, ast.And)
            if is_and != when:
                # and + jump-if-false / or + jump-if-true: any operand decides
                for v in test.values:
                    self.cond_jump(v, when, label)
            else:
                skip = _Label()
                for v in test.values[:-1]:
                    self.cond_jump(v, not when, skip)
                self.cond_jump(test.values[-1], when, label)
                self.bind(skip)
            return
        self.expr(test)
        self.emit_jump("POP_JUMP_IF_TRUE" if when else "POP_JUMP_IF_FALSE", label)

    def stmt_While(self, node: ast.While) -> None:
        start, end, orelse = _Label(), _Label(), _Label()
        self.bind(start)
        infinite = isinstance(node.test, ast.Constant) and bool(node.test.value)
        if not infinite:
            self.cond_jump(node.test, False, orelse)
        self.contexts.append(_Loop(start, end, is_for=False))
        self.block(node.body)
        self.contexts.pop()
        self.emit_jump("LOOP", start, node.lineno)
        self.bind(orelse)
        self.block(node.orelse)
        self.bind(end)

    def stmt_For(self, node: ast.For) -> None:
        self.expr(node.iter)
        self.line = node.lineno
        self.emit("GET_ITER")
        start, end, orelse = _Label(), _Label(), _Label()
        self.bind(start)
        self.emit_jump("FOR_ITER", orelse)
        self.store(node.target)
        self.contexts.append(_Loop(start, end, is_for=True))
        self.block(node.body)
        self.contexts.pop()
        self.emit_jump("LOOP", start, node.lineno)
        self.bind(orelse)
        self.block(node.orelse)
        self.bind(end)

    def _unwind(self, upto_loop: bool, keep_top: bool = False) -> _Loop | None:
        """Code that leaves the contexts between here and the innermost loop (or all
        of them), innermost first. With keep_top a value (a return value) sits on
        top of the stack: it is moved out of the way first."""
        saved = list(self.contexts)
        loop = None
        try:
            for ctx in reversed(saved):
                if isinstance(ctx, _Loop):
                    if upto_loop:
                        loop = ctx
                        break
                    if ctx.is_for:
                        self.emit("POP")
                elif isinstance(ctx, _TryBlock):
                    self.emit("POP_BLOCK")
                elif isinstance(ctx, _Finally):
                    self.emit("POP_BLOCK")
                    # the finally body runs outside of its own try
                    self.contexts = saved[:saved.index(ctx)]
                    self.block(ctx.body)
                    self.contexts = saved
                elif isinstance(ctx, _With):
                    self.emit("POP_BLOCK")
                    self.emit("WITH_EXIT")
        finally:
            self.contexts = saved
        return loop

    def stmt_Break(self, node: ast.Break) -> None:
        loop = self._unwind(upto_loop=True)
        if loop.is_for:
            self.emit("POP")  # the iterator
        self.emit_jump("JUMP", loop.end)

    def stmt_Continue(self, node: ast.Continue) -> None:
        loop = self._unwind(upto_loop=True)
        self.emit_jump("LOOP", loop.start)

    def stmt_Return(self, node: ast.Return) -> None:
        if node.value is None:
            self.emit_const(None)
        else:
            self.expr(node.value)
        self.line = node.lineno
        if any(isinstance(c, (_Finally, _With)) for c in self.contexts):
            slot = self.hidden_slot("ret")
            self.emit("STORE_LOCAL", slot)
            self._unwind(upto_loop=False)
            self.line = node.lineno
            self.emit("LOAD_LOCAL", slot)
        self.emit("RETURN_VALUE")

    def stmt_Raise(self, node: ast.Raise) -> None:
        if node.exc is None:
            if not self.handler_slots:
                self.emit("LOAD_BUILTIN", bc.BUILTIN_ID["RuntimeError"])
                self.emit_const("No active exception to reraise")
                self.emit("CALL", 1)
                self.emit("RAISE")
                return
            self.emit("LOAD_LOCAL", self.handler_slots[-1])
            self.emit("RERAISE")
            return
        self.expr(node.exc)
        if node.cause is not None:
            self.expr(node.cause)
            self.line = node.lineno
            self.emit("RAISE_FROM")
        else:
            self.line = node.lineno
            self.emit("RAISE")

    def stmt_Assert(self, node: ast.Assert) -> None:
        ok = _Label()
        self.cond_jump(node.test, True, ok)
        if node.msg is not None:
            self.expr(node.msg)
        self.line = node.lineno
        self.emit("RAISE_ASSERT", 1 if node.msg is not None else 0)
        self.bind(ok)

    def stmt_Try(self, node: ast.Try) -> None:
        if node.finalbody:
            fin_handler = _Label()
            self.emit_jump("SETUP_EXCEPT", fin_handler)
            self.contexts.append(_Finally(node.finalbody))
            self._try_except(node)
            self.contexts.pop()
            self.emit("POP_BLOCK")
            self.block(node.finalbody)
            end = _Label()
            self.emit_jump("JUMP", end)
            self.bind(fin_handler)
            # entered with the exception pushed and the block popped
            slot = self.hidden_slot("exc")
            self.line = node.finalbody[0].lineno
            self.emit("STORE_LOCAL", slot)
            self.handler_slots.append(slot)
            self.block(node.finalbody)
            self.handler_slots.pop()
            self.emit("LOAD_LOCAL", slot)
            self.emit("RERAISE")
            self.bind(end)
        else:
            self._try_except(node)

    def _try_except(self, node: ast.Try) -> None:
        if not node.handlers:
            self.block(node.body)
            self.block(node.orelse)
            return
        handler = _Label()
        end = _Label()
        self.emit_jump("SETUP_EXCEPT", handler)
        self.contexts.append(_TryBlock())
        self.block(node.body)
        self.contexts.pop()
        self.emit("POP_BLOCK")
        self.block(node.orelse)
        self.emit_jump("JUMP", end)
        self.bind(handler)
        # The VM enters here with the exception pushed and the block already popped.
        slot = self.hidden_slot("exc")
        self.line = node.handlers[0].lineno
        self.emit("STORE_LOCAL", slot)
        self.handler_slots.append(slot)
        for h in node.handlers:
            self.line = h.lineno
            nxt = None
            if h.type is not None:
                self.emit("LOAD_LOCAL", slot)
                self.expr(h.type)
                self.line = h.lineno
                self.emit("EXC_MATCH")
                nxt = _Label()
                self.emit_jump("POP_JUMP_IF_FALSE", nxt)
            if h.name is not None:
                self.emit("LOAD_LOCAL", slot)
                self.store_name(h.name)
            self.block(h.body)
            if h.name is not None:
                self.emit_const(None)
                self.store_name(h.name)
                self.delete_name(h.name)
            self.emit_jump("JUMP", end)
            if nxt is not None:
                self.bind(nxt)
        self.handler_slots.pop()
        if node.handlers[-1].type is not None:
            self.emit("LOAD_LOCAL", slot)
            self.emit("RERAISE")
        self.bind(end)

    def stmt_With(self, node: ast.With) -> None:
        self._with(node, 0)

    def _with(self, node: ast.With, i: int) -> None:
        item = node.items[i]
        self.expr(item.context_expr)
        self.line = node.lineno
        self.emit("WITH_ENTER")
        if item.optional_vars is not None:
            self.store(item.optional_vars)
        else:
            self.emit("POP")
        handler, end = _Label(), _Label()
        self.emit_jump("SETUP_EXCEPT", handler)
        self.contexts.append(_With())
        if i + 1 < len(node.items):
            self._with(node, i + 1)
        else:
            self.block(node.body)
        self.contexts.pop()
        self.line = node.lineno
        self.emit("POP_BLOCK")
        self.emit("WITH_EXIT")
        self.emit_jump("JUMP", end)
        self.bind(handler)
        self.emit("WITH_EXIT_EXC")
        self.bind(end)

    def stmt_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            index = self.mod.prog.module_ref(alias.name)
            self.emit("IMPORT_NAME", index)
            if alias.asname is not None:
                self.store_name(alias.asname)
            else:
                top = alias.name.split(".")[0]
                if top != alias.name:
                    self.emit("POP")
                    self.emit("IMPORT_NAME", self.mod.prog.module_ref(top))
                self.store_name(top)

    def stmt_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "__future__":
            return
        index = self.mod.prog.module_ref(node.module)
        self.emit("IMPORT_NAME", index)
        for alias in node.names:
            self.emit("IMPORT_FROM", self.name_index(alias.name))
            self.store_name(alias.asname or alias.name)
        self.emit("POP")

    def stmt_FunctionDef(self, node: ast.FunctionDef) -> None:
        for d in node.decorator_list:
            self.expr(d)
        self.make_function(node, node.name)
        self.line = node.lineno
        for _ in node.decorator_list:
            self.emit("CALL", 1)
        self.store_name(node.name)

    def stmt_ClassDef(self, node: ast.ClassDef) -> None:
        for d in node.decorator_list:
            self.expr(d)
        self.emit_const(node.name)
        for b in node.bases:
            self.expr(b)
        scope = self.mod.table.scope(node)
        qual = self.qual_prefix + node.name
        code = Code(name=node.name, qualname=qual, flags=bc.CO_CLASSBODY, module=self.mod.index)
        index = self._new_code(code)
        cg = _CodeGen(self.mod, code, scope, node, qual + ".")
        cg.line = node.lineno
        cg.emit("BUILD_DICT", 0)
        cg.emit("STORE_LOCAL", 0)
        cg.emit_const(self.mod.name)
        cg.emit("STORE_NAME", cg.name_index("__module__"))
        cg.emit_const(qual)
        cg.emit("STORE_NAME", cg.name_index("__qualname__"))
        for n, k in sorted(scope.kinds.items()):
            if k == CELL:
                cg.emit("MAKE_CELL", cg.local_index[n])
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            cg.emit_const(body[0].value.value)
            cg.emit("STORE_NAME", cg.name_index("__doc__"))
        cg.block(body)
        if "__class__" in scope.cells:
            cg.emit("LOAD_CLOSURE", cg.local_index["__class__"])
            cg.emit("STORE_NAME", cg.name_index("__classcell__"))
        cg.emit("LOAD_LOCAL", 0)
        cg.emit("RETURN_VALUE")
        cg.finish()
        self.line = node.lineno
        self._emit_make_function(index, cg, 0)
        self.emit("CALL", 0)
        self.emit("BUILD_CLASS", len(node.bases))
        for _ in node.decorator_list:
            self.emit("CALL", 1)
        self.store_name(node.name)

    def _new_code(self, code: Code) -> int:
        self.mod.prog.codes.append(code)
        return len(self.mod.prog.codes) - 1

    def _emit_make_function(self, index: int, cg: "_CodeGen", flags: int) -> None:
        if cg.free_names:
            for n in cg.free_names:
                self.emit("LOAD_CLOSURE", self._deref_arg(n))
            self.emit("BUILD_TUPLE", len(cg.free_names))
            flags |= bc.MF_CLOSURE
        self.emit("MAKE_FUNCTION", index | flags << 16)

    def make_function(self, node: ast.FunctionDef | ast.Lambda, name: str) -> None:
        a = node.args
        flags = 0
        if a.defaults:
            for d in a.defaults:
                self.expr(d)
            self.emit("BUILD_TUPLE", len(a.defaults))
            flags |= bc.MF_DEFAULTS
        kwd = [(p.arg, d) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
        if kwd:
            for k, d in kwd:
                self.emit_const(k)
                self.expr(d)
            self.emit("BUILD_DICT", len(kwd))
            flags |= bc.MF_KWDEFAULTS
        scope = self.mod.table.scope(node)
        qual = self.qual_prefix + name
        code = Code(name=name, qualname=qual, module=self.mod.index,
                    argcount=len(a.args), kwonlycount=len(a.kwonlyargs))
        if a.vararg:
            code.flags |= bc.CO_VARARGS
        if a.kwarg:
            code.flags |= bc.CO_VARKW
        if scope.is_generator:
            code.flags |= bc.CO_GENERATOR
        index = self._new_code(code)
        cg = _CodeGen(self.mod, code, scope, node, qual + ".<locals>.")
        cg.line = node.lineno
        cg.emit_cells()
        if isinstance(node, ast.Lambda):
            cg.expr(node.body)
            cg.emit("RETURN_VALUE")
        else:
            cg.block(node.body)
            end = node.end_lineno or node.lineno
            cg.emit_const(None, end)
            cg.emit("RETURN_VALUE", 0, end)
        cg.finish()
        self.line = node.lineno
        self._emit_make_function(index, cg, flags)

    def emit_cells(self) -> None:
        for n in sorted(self.scope.kinds):
            if self.scope.kinds[n] == CELL:
                self.emit("MAKE_CELL", self.local_index[n])

    # ---- stores

    def store(self, t: ast.expr) -> None:
        if isinstance(t, ast.Name):
            self.store_name(t.id)
        elif isinstance(t, ast.Attribute):
            self.expr(t.value)
            self.emit("STORE_ATTR", self.name_index(t.attr), t.lineno)
        elif isinstance(t, ast.Subscript):
            self.expr(t.value)
            self.subscript_key(t.slice)
            self.emit("STORE_SUBSCR", 0, t.lineno)
        elif isinstance(t, (ast.Tuple, ast.List)):
            star = [i for i, e in enumerate(t.elts) if isinstance(e, ast.Starred)]
            if len(star) > 1:
                self.mod.fail(t, "multiple starred expressions in assignment")
            if star:
                before = star[0]
                after = len(t.elts) - before - 1
                if before > 255 or after > 255:
                    self.mod.fail(t, "too many expressions in star-unpacking assignment")
                self.emit("UNPACK_EX", before | after << 8, t.lineno)
                for e in t.elts:
                    self.store(e.value if isinstance(e, ast.Starred) else e)
            else:
                self.emit("UNPACK_SEQUENCE", len(t.elts), t.lineno)
                for e in t.elts:
                    self.store(e)
        elif isinstance(t, ast.Starred):
            self.mod.fail(t, "starred assignment target must be in a list or tuple")
        else:
            self.mod.fail(t, f"cannot assign to {type(t).__name__}")

    # ---- expressions

    def expr(self, node: ast.expr) -> None:
        saved = self.line
        self.line = node.lineno
        method = getattr(self, "expr_" + type(node).__name__, None)
        if method is None:
            self.mod.unsupported(node, f"expression '{type(node).__name__}'")
        method(node)
        self.line = saved

    def expr_Constant(self, node: ast.Constant) -> None:
        self.emit_const(node.value)

    def expr_Name(self, node: ast.Name) -> None:
        self.load_name(node.id)

    def expr_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.expr(node.value)
        self.emit("DUP")
        self.store_name(node.target.id)

    def expr_Attribute(self, node: ast.Attribute) -> None:
        self.expr(node.value)
        self.line = node.lineno
        self.emit("LOAD_ATTR", self.name_index(node.attr))

    def subscript_key(self, s: ast.expr) -> None:
        if isinstance(s, ast.Slice):
            for part in (s.lower, s.upper):
                if part is None:
                    self.emit_const(None)
                else:
                    self.expr(part)
            if s.step is not None:
                self.expr(s.step)
                self.emit("BUILD_SLICE", 3)
            else:
                self.emit("BUILD_SLICE", 2)
        else:
            self.expr(s)

    def expr_Subscript(self, node: ast.Subscript) -> None:
        self.expr(node.value)
        self.subscript_key(node.slice)
        self.line = node.lineno
        self.emit("LOAD_SUBSCR")

    def expr_Slice(self, node: ast.Slice) -> None:
        self.subscript_key(node)

    def expr_BinOp(self, node: ast.BinOp) -> None:
        folded = _fold(node)
        if isinstance(folded, ast.Constant):
            self.emit_const(folded.value)
            return
        self.expr(node.left)
        self.expr(node.right)
        self.line = node.lineno
        self.emit(bc.BINARY_OPS[type(node.op).__name__])

    def expr_UnaryOp(self, node: ast.UnaryOp) -> None:
        folded = _fold(node)
        if isinstance(folded, ast.Constant):
            self.emit_const(folded.value)
            return
        self.expr(node.operand)
        self.emit(bc.UNARY_OPS[type(node.op).__name__])

    def expr_BoolOp(self, node: ast.BoolOp) -> None:
        op = "JUMP_IF_FALSE_OR_POP" if isinstance(node.op, ast.And) else "JUMP_IF_TRUE_OR_POP"
        end = _Label()
        for v in node.values[:-1]:
            self.expr(v)
            self.emit_jump(op, end)
        self.expr(node.values[-1])
        self.bind(end)

    def expr_Compare(self, node: ast.Compare) -> None:
        self.expr(node.left)
        n = len(node.ops)
        cleanup = _Label()
        for i, (op, right) in enumerate(zip(node.ops, node.comparators)):
            self.expr(right)
            if i < n - 1:
                self.emit("DUP")
                self.emit("ROT3")
            self.line = node.lineno
            self.emit(bc.COMPARE_OPS[type(op).__name__])
            if i < n - 1:
                self.emit_jump("JUMP_IF_FALSE_OR_POP", cleanup)
        if n > 1:
            end = _Label()
            self.emit_jump("JUMP", end)
            self.bind(cleanup)
            self.emit("ROT2")
            self.emit("POP")
            self.bind(end)

    def expr_IfExp(self, node: ast.IfExp) -> None:
        orelse, end = _Label(), _Label()
        self.cond_jump(node.test, False, orelse)
        self.expr(node.body)
        self.emit_jump("JUMP", end)
        self.bind(orelse)
        self.expr(node.orelse)
        self.bind(end)

    def _sequence(self, elts: list[ast.expr], build: str, extend: str) -> None:
        """Builds a list/tuple/set display; starred items extend it."""
        if not any(isinstance(e, ast.Starred) for e in elts):
            for e in elts:
                self.expr(e)
            self.emit(build, len(elts))
            return
        is_set = build == "BUILD_SET"
        self.emit("BUILD_SET" if is_set else "BUILD_LIST", 0)
        for e in elts:
            if isinstance(e, ast.Starred):
                self.expr(e.value)
                self.emit(extend)
            else:
                self.expr(e)
                self.emit("SET_ADD" if is_set else "LIST_APPEND", 1)
        if build == "BUILD_TUPLE":
            self.emit("LIST_TO_TUPLE")

    def expr_List(self, node: ast.List) -> None:
        self._sequence(node.elts, "BUILD_LIST", "LIST_EXTEND")

    def expr_Tuple(self, node: ast.Tuple) -> None:
        if all(isinstance(e, ast.Constant) for e in node.elts) and node.elts:
            self.emit_const(tuple(e.value for e in node.elts))
            return
        self._sequence(node.elts, "BUILD_TUPLE", "LIST_EXTEND")

    def expr_Set(self, node: ast.Set) -> None:
        elts = [_fold(e) for e in node.elts]
        if len(elts) > 2 and all(isinstance(e, ast.Constant) for e in elts):
            # as CPython: BUILD_SET 0 + a frozenset constant, so the set's table
            # (and its iteration order) is the one CPython builds
            self.emit("BUILD_SET", 0)
            self.emit_const(_FrozenConst(tuple(e.value for e in elts)))
            self.emit("SET_UPDATE")
            return
        self._sequence(node.elts, "BUILD_SET", "SET_UPDATE")

    def expr_Dict(self, node: ast.Dict) -> None:
        if not any(k is None for k in node.keys):
            for k, v in zip(node.keys, node.values):
                self.expr(k)
                self.expr(v)
            self.emit("BUILD_DICT", len(node.keys))
            return
        self.emit("BUILD_DICT", 0)
        for k, v in zip(node.keys, node.values):
            if k is None:
                self.expr(v)
                self.emit("DICT_UPDATE")
            else:
                self.expr(k)
                self.expr(v)
                self.emit("BUILD_DICT", 1)
                self.emit("DICT_UPDATE")

    def expr_JoinedStr(self, node: ast.JoinedStr) -> None:
        for v in node.values:
            if isinstance(v, ast.Constant):
                self.emit_const(v.value)
            else:
                self.expr_FormattedValue(v)
        if len(node.values) != 1 or not isinstance(node.values[0], ast.FormattedValue):
            self.emit("BUILD_STRING", len(node.values))

    def expr_FormattedValue(self, node: ast.FormattedValue) -> None:
        self.expr(node.value)
        flags = {-1: 0, ord("s"): 2, ord("r"): 4, ord("a"): 8}[node.conversion]
        if node.format_spec is not None:
            self.expr_JoinedStr(node.format_spec)
            flags |= 1
        self.emit("FORMAT", flags)

    def expr_Lambda(self, node: ast.Lambda) -> None:
        self.make_function(node, "<lambda>")

    def expr_Yield(self, node: ast.Yield) -> None:
        if node.value is None:
            self.emit_const(None)
        else:
            self.expr(node.value)
        self.line = node.lineno
        self.emit("YIELD_VALUE")

    def expr_YieldFrom(self, node: ast.YieldFrom) -> None:
        # gcheap: the inner iterator is resumed with next() (a value sent to the
        # outer generator is not forwarded) and the expression's value is None
        self.expr(node.value)
        self.line = node.lineno
        self.emit("GET_ITER")
        start, end = _Label(), _Label()
        self.bind(start)
        self.emit_jump("FOR_ITER", end)
        self.emit("YIELD_VALUE")
        self.emit("POP")
        self.emit_jump("LOOP", start)
        self.bind(end)
        self.emit_const(None)

    def _comprehension(self, node, kind: str) -> None:
        scope = self.mod.table.scope(node)
        name = scope.name
        qual = self.qual_prefix + name
        code = Code(name=name, qualname=qual, module=self.mod.index, argcount=1)
        if kind == "gen":
            code.flags |= bc.CO_GENERATOR
        index = self._new_code(code)
        cg = _CodeGen(self.mod, code, scope, node, qual + ".<locals>.")
        cg.line = node.lineno
        cg.emit_cells()
        if kind != "gen":
            cg.emit({"list": "BUILD_LIST", "set": "BUILD_SET", "dict": "BUILD_DICT"}[kind], 0)
        cg._comp_loops(node, kind, 0, 1 if kind != "gen" else 0)
        if kind == "gen":
            cg.emit_const(None)
        cg.emit("RETURN_VALUE")
        cg.finish()
        self.line = node.lineno
        self._emit_make_function(index, cg, 0)
        self.expr(node.generators[0].iter)
        self.line = node.lineno
        self.emit("GET_ITER")
        self.emit("CALL", 1)

    def _comp_loops(self, node, kind: str, i: int, depth: int) -> None:
        g = node.generators[i]
        if i == 0:
            self.emit("LOAD_LOCAL", 0)
        else:
            self.expr(g.iter)
            self.emit("GET_ITER")
        start, cont, end = _Label(), _Label(), _Label()
        self.bind(start)
        self.emit_jump("FOR_ITER", end)
        self.store(g.target)
        for c in g.ifs:
            self.cond_jump(c, False, cont)
        if i + 1 < len(node.generators):
            self._comp_loops(node, kind, i + 1, depth + 1)
        elif kind == "gen":
            self.expr(node.elt)
            self.emit("YIELD_VALUE")
            self.emit("POP")
        elif kind == "dict":
            self.expr(node.key)
            self.expr(node.value)
            self.emit("DICT_SET", depth + 1)
        else:
            self.expr(node.elt)
            self.emit("LIST_APPEND" if kind == "list" else "SET_ADD", depth + 1)
        self.bind(cont)
        self.emit_jump("LOOP", start)
        self.bind(end)

    def expr_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, "list")

    def expr_SetComp(self, node: ast.SetComp) -> None:
        self._comprehension(node, "set")

    def expr_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, "dict")

    def expr_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        self._comprehension(node, "gen")

    def expr_Starred(self, node: ast.Starred) -> None:
        self.mod.fail(node, "can't use starred expression here")

    def expr_Call(self, node: ast.Call) -> None:
        f = node.func
        star = any(isinstance(a, ast.Starred) for a in node.args) or \
            any(kw.arg is None for kw in node.keywords)
        # zero-argument super(): the class cell and the first argument
        if isinstance(f, ast.Name) and f.id == "super" and not node.args and not node.keywords \
                and self.is_builtin_ref("super") and self.scope.kind == "function" \
                and "__class__" in self.scope.free and self.scope.params:
            self.emit("LOAD_BUILTIN", bc.BUILTIN_ID["super"])
            self.emit("LOAD_DEREF", self._deref_arg("__class__"))
            self.load_name(self.scope.params[0])
            self.line = node.lineno
            self.emit("CALL", 2)
            return
        if isinstance(f, ast.Name) and self.is_builtin_ref(f.id) and not node.keywords and not star:
            for a in node.args:
                self.expr(a)
            self.line = node.lineno
            self.emit("CALL_BUILTIN", bc.BUILTIN_ID[f.id] | len(node.args) << 16)
            return
        method = isinstance(f, ast.Attribute)
        if method:
            self.expr(f.value)
            self.line = f.lineno
            self.emit("LOAD_METHOD", self.name_index(f.attr))
        else:
            self.expr(f)
            if node.keywords or star:
                self.emit("PUSH_NULL")
        if star:
            self._star_call(node)
            return
        for a in node.args:
            self.expr(a)
        for kw in node.keywords:
            self.expr(kw.value)
        self.line = node.lineno
        n = len(node.args) + len(node.keywords)
        if node.keywords:
            self.emit_const(tuple(kw.arg for kw in node.keywords))
            self.emit("CALL_KW", n)
        elif method:
            self.emit("CALL_METHOD", n)
        else:
            self.emit("CALL", n)

    def _star_call(self, node: ast.Call) -> None:
        self._sequence(node.args, "BUILD_TUPLE", "LIST_EXTEND")
        flag = 0
        if node.keywords:
            self.emit("BUILD_DICT", 0)
            for kw in node.keywords:
                if kw.arg is None:
                    self.expr(kw.value)
                else:
                    self.emit_const(kw.arg)
                    self.expr(kw.value)
                    self.emit("BUILD_DICT", 1)
                self.emit("DICT_UPDATE")
            flag = 1
        self.line = node.lineno
        self.emit("CALL_EX", flag)


class _FrozenConst:
    """A frozenset constant: its items in the order the source lists them (the
    VM inserts them in that order, as CPython's compiler does)."""

    def __init__(self, items: tuple) -> None:
        self.items = items


_FOLD_LIMIT = 1 << 63


def _fold(node: ast.expr) -> ast.expr:
    """CPython's constant folding of arithmetic on number constants (the part that
    can change what a program observes, e.g. the order of a set display), when the
    result is a 64-bit int or a float and computing it raises nothing."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Invert)):
        v = _fold(node.operand)
        if isinstance(v, ast.Constant) and type(v.value) in (int, float) and \
                not (isinstance(node.op, ast.Invert) and type(v.value) is float):
            r = -v.value if isinstance(node.op, ast.USub) else +v.value if isinstance(node.op, ast.UAdd) else ~v.value
            if type(r) is float or -_FOLD_LIMIT <= r < _FOLD_LIMIT:
                return ast.copy_location(ast.Constant(r), node)
        return node
    if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.MatMult):
        a, b = _fold(node.left), _fold(node.right)
        if isinstance(a, ast.Constant) and isinstance(b, ast.Constant) and \
                type(a.value) in (int, float) and type(b.value) in (int, float):
            x, y = a.value, b.value
            try:
                if isinstance(node.op, ast.Pow) and type(x) is int and type(y) is int and (y > 64 or y < 0):
                    return node
                if isinstance(node.op, ast.LShift) and type(y) is int and y > 64:
                    return node
                r = {ast.Add: lambda: x + y, ast.Sub: lambda: x - y, ast.Mult: lambda: x * y,
                     ast.Div: lambda: x / y, ast.FloorDiv: lambda: x // y, ast.Mod: lambda: x % y,
                     ast.Pow: lambda: x ** y, ast.LShift: lambda: x << y, ast.RShift: lambda: x >> y,
                     ast.BitAnd: lambda: x & y, ast.BitOr: lambda: x | y,
                     ast.BitXor: lambda: x ^ y}[type(node.op)]()
            except (ArithmeticError, ValueError, TypeError):
                return node
            if type(r) is float or (type(r) is int and -_FOLD_LIMIT <= r < _FOLD_LIMIT):
                return ast.copy_location(ast.Constant(r), node)
        return node
    return node


def _const_key(value):
    if isinstance(value, _FrozenConst):
        return ("frozenset", tuple(_const_key(v) for v in value.items))
    if isinstance(value, tuple):
        return ("tuple", tuple(_const_key(v) for v in value))
    if isinstance(value, float):
        return (float, repr(value))
    return (type(value), value)


# ---- stack depth verification (mirrors csrc/interp/load.c effects())

_SIMPLE = {
    "NOP": 0, "LOAD_CONST": 1, "LOAD_LOCAL": 1, "STORE_LOCAL": -1, "DELETE_LOCAL": 0,
    "LOAD_GLOBAL": 1, "STORE_GLOBAL": -1, "DELETE_GLOBAL": 0, "LOAD_BUILTIN": 1,
    "LOAD_DEREF": 1, "STORE_DEREF": -1, "DELETE_DEREF": 0, "LOAD_CLOSURE": 1, "MAKE_CELL": 0,
    "LOAD_NAME": 1, "STORE_NAME": -1, "PUSH_NULL": 1, "POP": -1, "DUP": 1, "DUP2": 2,
    "ROT2": 0, "ROT3": 0, "ROT4": 0, "NEG": 0, "POS": 0, "NOT": 0, "INVERT": 0,
    "GET_ITER": 0, "LIST_APPEND": -1, "SET_ADD": -1, "DICT_SET": -2, "LIST_EXTEND": -1,
    "SET_UPDATE": -1, "DICT_UPDATE": -1, "LIST_TO_TUPLE": 0, "LOAD_SUBSCR": -1,
    "STORE_SUBSCR": -3, "DELETE_SUBSCR": -2, "LOAD_ATTR": 0, "STORE_ATTR": -2,
    "DELETE_ATTR": -1, "LOAD_METHOD": 1, "YIELD_VALUE": 0, "POP_BLOCK": 0, "EXC_MATCH": -1,
    "IMPORT_NAME": 1, "IMPORT_FROM": 1, "WITH_ENTER": 1, "WITH_EXIT": -1,
    "WITH_EXIT_EXC": -2,
}
_BINARY = {n for n, _ in bc.OPCODES[bc.OP["ADD"]:bc.OP["INPLACE_XOR"] + 1]}
_COMPARE = {"EQ", "NE", "LT", "LE", "GT", "GE", "IS", "IS_NOT", "IN", "NOT_IN"}


def _effects(op: str, arg: int) -> list[tuple[int | None, int]]:
    """(successor pc or None for the next instruction, stack delta) pairs."""
    n16 = arg >> 16
    if op in _SIMPLE:
        return [(None, _SIMPLE[op])]
    if op in _BINARY or op in _COMPARE:
        return [(None, -1)]
    if op in ("JUMP", "LOOP"):
        return [(arg, 0)]
    if op in ("POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE"):
        return [(None, -1), (arg, -1)]
    if op in ("JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP"):
        return [(None, -1), (arg, 0)]
    if op == "FOR_ITER":
        return [(None, 1), (arg, -1)]
    if op in ("RETURN_VALUE", "RAISE", "RAISE_FROM", "RERAISE", "RAISE_ASSERT"):
        return []
    if op == "SETUP_EXCEPT":
        return [(None, 0), (arg, 1)]
    if op in ("BUILD_LIST", "BUILD_TUPLE", "BUILD_SET", "BUILD_STRING", "BUILD_SLICE"):
        return [(None, 1 - arg)]
    if op == "BUILD_DICT":
        return [(None, 1 - 2 * arg)]
    if op == "FORMAT":
        return [(None, -(arg & 1))]
    if op == "UNPACK_SEQUENCE":
        return [(None, arg - 1)]
    if op == "UNPACK_EX":
        return [(None, (arg & 0xFF) + (arg >> 8))]
    if op == "CALL":
        return [(None, -arg)]
    if op == "CALL_METHOD":
        return [(None, -arg - 1)]
    if op == "CALL_KW":
        return [(None, -arg - 2)]
    if op == "CALL_EX":
        return [(None, -2 - (arg & 1))]
    if op == "CALL_BUILTIN":
        return [(None, 1 - n16)]
    if op == "MAKE_FUNCTION":
        return [(None, 1 - bin(n16 & 7).count("1"))]
    if op == "BUILD_CLASS":
        return [(None, -arg - 1)]
    raise AssertionError(f"no stack effect for {op}")


_READ0 = {"NOP", "LOAD_CONST", "LOAD_LOCAL", "DELETE_LOCAL", "LOAD_GLOBAL", "DELETE_GLOBAL",
          "LOAD_BUILTIN", "LOAD_DEREF", "DELETE_DEREF", "LOAD_CLOSURE", "MAKE_CELL", "LOAD_NAME",
          "PUSH_NULL", "JUMP", "LOOP", "SETUP_EXCEPT", "POP_BLOCK", "IMPORT_NAME"}
_READ2 = {"DUP2", "ROT2", "LIST_EXTEND", "SET_UPDATE", "DICT_UPDATE", "LOAD_SUBSCR",
          "DELETE_SUBSCR", "STORE_ATTR", "EXC_MATCH", "RAISE_FROM", "WITH_EXIT_EXC"}


def _operands_read(op: str, arg: int) -> int:
    """How many operands an instruction reads (mirrors load.c operands_read())."""
    n16 = arg >> 16
    if op in _BINARY or op in _COMPARE or op in _READ2:
        return 2
    if op in _READ0:
        return 0
    return {
        "ROT3": lambda: 3, "STORE_SUBSCR": lambda: 3, "ROT4": lambda: 4,
        "BUILD_LIST": lambda: arg, "BUILD_TUPLE": lambda: arg, "BUILD_SET": lambda: arg,
        "BUILD_STRING": lambda: arg, "BUILD_SLICE": lambda: arg, "BUILD_DICT": lambda: 2 * arg,
        "LIST_APPEND": lambda: arg + 1, "SET_ADD": lambda: arg + 1, "DICT_SET": lambda: arg + 2,
        "FORMAT": lambda: 1 + (arg & 1), "CALL": lambda: arg + 1, "CALL_METHOD": lambda: arg + 2,
        "CALL_KW": lambda: arg + 3, "CALL_EX": lambda: 3 + (arg & 1), "CALL_BUILTIN": lambda: n16,
        "MAKE_FUNCTION": lambda: bin(n16 & 7).count("1"), "BUILD_CLASS": lambda: arg + 2,
        "RAISE_ASSERT": lambda: 1 if arg else 0,
    }.get(op, lambda: 1)()


# NULL operands (PUSH_NULL, LOAD_METHOD's self|NULL) may only be read by the call
# that takes them as self|NULL: the verifier follows their positions (mirrors
# load.c check_stack()); this many may be pending at once.
NULL_LIMIT = 64


_JUMPS = {"JUMP", "LOOP", "POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE", "JUMP_IF_FALSE_OR_POP",
          "JUMP_IF_TRUE_OR_POP", "FOR_ITER", "SETUP_EXCEPT"}


class _TooManyNulls(Exception):
    pass


def _max_stack(code: Code) -> int:
    """Depth of the operand stack at every reachable instruction, checked consistent,
    and the positions of NULL operands (newest first), checked only read by a call."""
    state: dict[int, tuple[int, tuple[int, ...]]] = {0: (0, ())}
    work = [0]
    best = 0
    while work:
        pc = work.pop()
        d, nulls = state[pc]
        op, arg = bc.decode(code.code[pc])
        name = bc.NAMES[op]
        k = _operands_read(name, arg)
        if d < k:
            raise AssertionError(f"{code.qualname}: {name} reads below the stack at pc {pc}")
        if nulls and name in ("CALL_METHOD", "CALL_KW", "CALL_EX") and nulls[0] == d - k + 1:
            nulls = nulls[1:]
        if nulls and nulls[0] >= d - k:
            raise AssertionError(f"{code.qualname}: {name} reads a NULL operand at pc {pc}")
        if (name == "LOOP") != (name in _JUMPS and arg <= pc):
            raise AssertionError(f"{code.qualname}: {name} jumps backward at pc {pc} (only LOOP may)")
        if name in ("PUSH_NULL", "LOAD_METHOD"):
            if len(nulls) >= NULL_LIMIT:
                raise _TooManyNulls()
            nulls = (d,) + nulls
        for succ, delta in _effects(name, arg):
            nd = d + delta
            target = pc + 1 if succ is None else succ
            if nd < 0:
                raise AssertionError(f"{code.qualname}: stack underflow at pc {pc}")
            if nulls and nulls[0] >= nd:
                raise AssertionError(f"{code.qualname}: {name} drops a NULL operand at pc {pc}")
            if target >= len(code.code):
                raise AssertionError(f"{code.qualname}: falls off the end at pc {pc}")
            if target in state:
                if state[target] != (nd, nulls):
                    raise AssertionError(f"{code.qualname}: inconsistent stack at pc {target}")
            else:
                state[target] = (nd, nulls)
                work.append(target)
            best = max(best, nd)
    return best + 2
