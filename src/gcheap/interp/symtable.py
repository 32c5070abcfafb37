"""Scopes of a module, resolved once at compile time (Python's rules).

Every function, lambda, comprehension and generator expression is a function
scope; class bodies and the module are scopes of their own. For each scope the
analysis says how every name it binds or reads is reached:

    LOCAL     a slot of the frame
    CELL      a slot of the frame holding a cell (an inner scope reads it)
    FREE      a slot holding a cell from the function's closure
    GLOBAL    a slot of the module's globals (then the built-in of that name)
    NAME      a class body's namespace (then the globals and built-ins)

As in CPython, a method that reads `super` or `__class__` gets the implicit free
variable `__class__`, a cell of its class body that BUILD_CLASS fills in.
"""
from __future__ import annotations

import ast

LOCAL, CELL, FREE, GLOBAL, NAME = "local", "cell", "free", "global", "name"


class Scope:
    def __init__(self, kind: str, node: ast.AST, parent: "Scope | None", name: str) -> None:
        self.kind = kind                    # "module", "class", "function"
        self.node = node
        self.parent = parent
        self.name = name
        self.params: list[str] = []
        self.bound: set[str] = set()
        self.used: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.children: list[Scope] = []
        self.is_generator = False
        self.uses_class_cell = False        # reads super / __class__
        # results of analyze()
        self.cells: set[str] = set()
        self.free: set[str] = set()
        self.kinds: dict[str, str] = {}
        if parent is not None:
            parent.children.append(self)

    def kind_of(self, name: str) -> str:
        return self.kinds.get(name, GLOBAL if self.kind != "class" else NAME)


class SymbolTable:
    """Scopes of a module tree, by ast node."""

    def __init__(self, tree: ast.Module) -> None:
        self.by_node: dict[int, Scope] = {}
        self.module = Scope("module", tree, None, "<module>")
        self.by_node[id(tree)] = self.module
        _Collector(self).visit_body(self.module, tree.body)
        self.module_bound: set[str] = set(self.module.bound)
        self._gather_globals(self.module)
        _analyze(self.module)

    def scope(self, node: ast.AST) -> Scope:
        return self.by_node[id(node)]

    def _gather_globals(self, s: Scope) -> None:
        for c in s.children:
            self.module_bound |= c.globals & (c.bound | c.globals)
            self._gather_globals(c)


class _Collector:
    """Pass 1: what each scope binds, reads and declares."""

    def __init__(self, table: SymbolTable) -> None:
        self.table = table

    def new_scope(self, kind: str, node: ast.AST, parent: Scope, name: str) -> Scope:
        s = Scope(kind, node, parent, name)
        self.table.by_node[id(node)] = s
        return s

    def visit_body(self, s: Scope, stmts: list[ast.stmt]) -> None:
        for st in stmts:
            self.visit(s, st)

    def visit(self, s: Scope, node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            for d in getattr(node, "decorator_list", []):
                self.visit(s, d)
            a = node.args
            for d in a.defaults + [d for d in a.kw_defaults if d is not None]:
                self.visit(s, d)
            name = node.name if isinstance(node, ast.FunctionDef) else "<lambda>"
            if isinstance(node, ast.FunctionDef):
                s.bound.add(node.name)
            f = self.new_scope("function", node, s, name)
            f.params = [p.arg for p in a.args] + [p.arg for p in a.kwonlyargs]
            if a.vararg:
                f.params.append(a.vararg.arg)
            if a.kwarg:
                f.params.append(a.kwarg.arg)
            f.bound.update(f.params)
            if isinstance(node, ast.Lambda):
                self.visit(f, node.body)
            else:
                self.visit_body(f, node.body)
            return
        if isinstance(node, ast.ClassDef):
            for d in node.decorator_list:
                self.visit(s, d)
            for b in node.bases:
                self.visit(s, b)
            s.bound.add(node.name)
            c = self.new_scope("class", node, s, node.name)
            self.visit_body(c, node.body)
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            gens = node.generators
            self.visit(s, gens[0].iter)       # evaluated in the enclosing scope
            name = {ast.ListComp: "<listcomp>", ast.SetComp: "<setcomp>",
                    ast.DictComp: "<dictcomp>", ast.GeneratorExp: "<genexpr>"}[type(node)]
            f = self.new_scope("function", node, s, name)
            f.params = [".0"]
            f.bound.add(".0")
            f.is_generator = isinstance(node, ast.GeneratorExp)
            for i, g in enumerate(gens):
                if i:
                    self.visit(f, g.iter)
                self.target(f, g.target)
                for c in g.ifs:
                    self.visit(f, c)
            if isinstance(node, ast.DictComp):
                self.visit(f, node.key)
                self.visit(f, node.value)
            else:
                self.visit(f, node.elt)
            return
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                s.used.add(node.id)
                if node.id in ("super", "__class__"):
                    s.uses_class_cell = True
            else:
                s.bound.add(node.id)
            return
        if isinstance(node, ast.NamedExpr):
            # binds in the nearest enclosing scope that is not a comprehension
            t = s
            while t.kind == "function" and isinstance(t.node, (ast.ListComp, ast.SetComp,
                                                                ast.DictComp, ast.GeneratorExp)):
                t = t.parent
            if t is not s:
                s.nonlocals.add(node.target.id) if t.kind == "function" else s.globals.add(node.target.id)
            t.bound.add(node.target.id)
            s.used.add(node.target.id)
            self.visit(s, node.value)
            return
        if isinstance(node, ast.Global):
            s.globals.update(node.names)
            return
        if isinstance(node, ast.Nonlocal):
            s.nonlocals.update(node.names)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if a.name == "*":
                    continue
                s.bound.add(a.asname or a.name.split(".")[0])
            return
        if isinstance(node, ast.ExceptHandler):
            if node.type is not None:
                self.visit(s, node.type)
            if node.name:
                s.bound.add(node.name)
            self.visit_body(s, node.body)
            return
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            s.is_generator = True
        if isinstance(node, (ast.AnnAssign,)):
            self.target(s, node.target)
            if node.value is not None:
                self.visit(s, node.value)
            return
        if isinstance(node, ast.arg):
            return
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop)):
                continue
            if isinstance(node, ast.FunctionDef) and child is getattr(node, "returns", None):
                continue
            self.visit(s, child)

    def target(self, s: Scope, t: ast.expr) -> None:
        self.visit(s, t)


def _analyze(s: Scope) -> None:
    for c in s.children:
        _analyze(c)
    if s.kind == "module":
        for n in s.bound | s.used:
            s.kinds[n] = GLOBAL
        return
    if s.kind == "function":
        for n in s.bound | s.used | s.nonlocals:
            if n in s.globals:
                s.kinds[n] = GLOBAL
            elif n in s.nonlocals:
                _make_free(s, n)
            elif n in s.bound:
                s.kinds.setdefault(n, LOCAL)
            else:
                if _enclosing_binding(s.parent, n):
                    _make_free(s, n)
                else:
                    s.kinds[n] = GLOBAL
        if s.uses_class_cell and s.parent is not None and s.parent.kind == "class":
            _make_free(s, "__class__")
        return
    # class body
    for n in s.bound | s.used:
        if n in s.globals:
            s.kinds[n] = GLOBAL
        elif n in s.nonlocals:
            _make_free(s, n)
        elif n in s.bound:
            s.kinds[n] = NAME
        elif _enclosing_binding(s.parent, n):
            _make_free(s, n)
        else:
            s.kinds[n] = GLOBAL


def _enclosing_binding(s: Scope | None, n: str) -> bool:
    """Is n a local (or free) name of an enclosing function scope? Class scopes are
    skipped, the module ends the search."""
    while s is not None and s.kind != "module":
        if s.kind == "function" and (n in s.bound or n in s.nonlocals) and n not in s.globals:
            return True
        s = s.parent
    return False


def _make_free(s: Scope, n: str) -> None:
    """n is free in s: a cell of the nearest enclosing function that binds it, and
    free in every scope between (including class bodies, which pass it on)."""
    s.kinds[n] = FREE
    s.free.add(n)
    p = s.parent
    while p is not None and p.kind != "module":
        if n == "__class__" and p.kind == "class":
            p.cells.add(n)
            p.kinds[n] = CELL
            return
        if p.kind == "function" and (n in p.bound or n in p.nonlocals) and n not in p.globals \
                and n not in p.nonlocals:
            p.cells.add(n)
            p.kinds[n] = CELL
            return
        if p.kind == "function" and n in p.nonlocals:
            p.kinds[n] = FREE
            p.free.add(n)
        elif p.kind == "class":
            if n not in p.free:
                p.free.add(n)
            if p.kinds.get(n) != NAME:
                p.kinds[n] = FREE
        else:
            p.kinds[n] = FREE
            p.free.add(n)
        p = p.parent
