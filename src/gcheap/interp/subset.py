"""The subset checker: accepts exactly the documented Python subset (docs/subset.md).

check(tree, filename) walks a parsed module and raises SubsetError at the first
construct outside the subset, with `file:line:col` (1-based column) and what is not
supported. The compiler only ever sees trees this checker accepted, so it may assume
every invariant stated here (module-level functions and classes, `__slots__` on every
class, keyword arguments only for print, statically resolved modules, ...).
"""
from __future__ import annotations

import ast
import builtins

from gcheap.errors import SubsetError

# Built-in functions and types of the subset (the names a program may call or load).
BUILTIN_FUNCTIONS = ("print", "len", "range", "abs", "min", "max", "isinstance",
                     "str", "int", "float", "bool", "list", "dict", "tuple")
# Built-in exception classes (raise, except, isinstance). Order fixes their ids.
BUILTIN_EXCEPTIONS = ("Exception", "ArithmeticError", "LookupError", "ZeroDivisionError",
                      "OverflowError", "IndexError", "KeyError", "ValueError", "TypeError",
                      "AttributeError", "RuntimeError", "RecursionError",
                      "NotImplementedError", "AssertionError", "NameError",
                      "UnboundLocalError", "MemoryError", "BaseException", "KeyboardInterrupt")
BUILTIN_NAMES = frozenset(BUILTIN_FUNCTIONS + BUILTIN_EXCEPTIONS)
# Importable modules and the one way each attribute may be used.
MODULE_ATTRS = {
    "time": {"perf_counter": "call"},
    "sys": {"argv": "load"},
    "gc": {"collect": "call", "heap_stats": "call"},
}
PRINT_KEYWORDS = ("sep", "end")
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

_EXPR_NAMES = {
    ast.Lambda: "lambda", ast.ListComp: "list comprehension", ast.SetComp: "set comprehension",
    ast.DictComp: "dict comprehension", ast.GeneratorExp: "generator expression",
    ast.Set: "set literal", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield from",
    ast.NamedExpr: "assignment expression (:=)", ast.Starred: "starred expression (*x)",
}
_STMT_NAMES = {
    ast.With: "with statement", ast.AsyncWith: "async with", ast.AsyncFor: "async for",
    ast.AsyncFunctionDef: "async def", ast.ImportFrom: "from-import", ast.Nonlocal: "nonlocal",
    ast.AnnAssign: "annotated assignment", ast.Match: "match statement",
}
if hasattr(ast, "TryStar"):
    _STMT_NAMES[ast.TryStar] = "except*"


def check(tree: ast.Module, filename: str) -> None:
    """Raise SubsetError at the first construct of `tree` outside the subset."""
    _Checker(filename).module(tree)


def parse_and_check(source: str, filename: str) -> ast.Module:
    """Parse `source` (syntax errors become SubsetError) and check it."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as e:
        raise SubsetError(filename, e.lineno or 1, e.offset or 1,
                          f"syntax error: {e.msg}") from None
    except (ValueError, RecursionError, MemoryError) as e:  # NUL bytes, absurd nesting
        raise SubsetError(filename, 1, 1, f"cannot parse: {e}") from None
    check(tree, filename)
    return tree


class _Checker:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.modules: set[str] = set()      # imported module names
        self.module_globals: set[str] = set()
        self.in_function = False
        self.loop_depth = 0
        self.handler_depth = 0

    def fail(self, node: ast.AST, what: str) -> None:
        raise SubsetError(self.filename, getattr(node, "lineno", 1),
                          getattr(node, "col_offset", 0) + 1, what)

    def unsupported(self, node: ast.AST, what: str) -> None:
        self.fail(node, f"{what} is not supported in the gcheap subset")

    # ---- module and definitions

    def module(self, tree: ast.Module) -> None:
        for stmt in tree.body:
            for n in ast.walk(stmt):
                if isinstance(n, ast.Import):
                    for alias in n.names:
                        self.modules.add(alias.asname or alias.name)
        for stmt in tree.body:
            if isinstance(stmt, ast.Global):
                self.fail(stmt, "global statement at module level is not supported")
            self.stmt(stmt, top=True)

    def function(self, node: ast.FunctionDef, method: bool) -> None:
        if node.decorator_list:
            self.unsupported(node, "decorator")
        a = node.args
        if a.vararg is not None:
            self.unsupported(node, "*args")
        if a.kwarg is not None:
            self.unsupported(node, "**kwargs")
        if a.posonlyargs or a.kwonlyargs:
            self.unsupported(node, "keyword-only or positional-only parameter")
        if node.returns is not None or any(p.annotation is not None for p in a.args):
            self.unsupported(node, "annotation")
        if method and not a.args:
            self.fail(node, f"method '{node.name}' needs a self parameter")
        names = [p.arg for p in a.args]
        if len(set(names)) != len(names):
            self.fail(node, "duplicate parameter name")
        if len(names) > 255:
            self.fail(node, "more than 255 parameters")
        for p in names:
            self.not_builtin(node, p)
        for d in a.defaults:
            self.expr(d)
        saved = (self.in_function, self.loop_depth, self.handler_depth)
        self.in_function, self.loop_depth, self.handler_depth = True, 0, 0
        for stmt in node.body:
            self.stmt(stmt)
        self.in_function, self.loop_depth, self.handler_depth = saved

    def klass(self, node: ast.ClassDef) -> None:
        if node.bases or node.keywords:
            self.unsupported(node, "base class (inheritance)")
        if node.decorator_list:
            self.unsupported(node, "class decorator")
        self.not_builtin(node, node.name)
        slots = None
        for i, stmt in enumerate(node.body):
            if i == 0 and _is_docstring(stmt):
                continue
            if isinstance(stmt, ast.Pass):
                continue
            if isinstance(stmt, ast.FunctionDef):
                self.function(stmt, method=True)
                continue
            if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)
                    and stmt.targets[0].id == "__slots__"):
                if slots is not None:
                    self.fail(stmt, "__slots__ assigned twice")
                slots = self.slots(stmt.value)
                continue
            self.fail(stmt, "a class body may only hold __slots__ and methods")
        if slots is None:
            self.fail(node, f"class '{node.name}' must define __slots__ "
                            "(a tuple or list of attribute names)")
        methods = [s.name for s in node.body if isinstance(s, ast.FunctionDef)]
        if len(methods) > 255 or len(slots) > 0xFFFF:
            self.fail(node, "too many methods or slots")
        if len(set(methods)) != len(methods):
            self.fail(node, "a method is defined twice")
        clash = set(methods) & set(slots)
        if clash:
            self.fail(node, f"'{sorted(clash)[0]}' is both a slot and a method")

    def slots(self, value: ast.expr) -> list[str]:
        if not isinstance(value, (ast.Tuple, ast.List)):
            self.fail(value, "__slots__ must be a tuple or list of string literals")
        out = []
        for elt in value.elts:
            if not (isinstance(elt, ast.Constant) and isinstance(elt.value, str)
                    and elt.value.isidentifier()):
                self.fail(elt, "__slots__ must be a tuple or list of string literals")
            if elt.value in out:
                self.fail(elt, f"slot '{elt.value}' listed twice")
            out.append(elt.value)
        return out

    def not_builtin(self, node: ast.AST, name: str) -> None:
        if name in BUILTIN_NAMES or name in self.modules or name == "__name__":
            self.fail(node, f"rebinding the built-in or module name '{name}' is not supported")

    # ---- statements

    def stmt(self, node: ast.stmt, top: bool = False) -> None:
        t = type(node)
        if t in _STMT_NAMES:
            self.unsupported(node, _STMT_NAMES[t])
        if isinstance(node, ast.FunctionDef):
            if not top:
                self.unsupported(node, "nested function (def inside a def, loop or if)")
            self.function(node, method=False)
        elif isinstance(node, ast.ClassDef):
            if not top:
                self.unsupported(node, "class definition outside module level")
            self.klass(node)
        elif isinstance(node, ast.Import):
            if not top:
                self.unsupported(node, "import outside module level")
            for alias in node.names:
                if alias.name not in MODULE_ATTRS:
                    self.unsupported(node, f"import of module '{alias.name}'")
                if alias.asname is not None:
                    self.unsupported(node, "import ... as")
        elif isinstance(node, ast.Global):
            for name in node.names:
                self.not_builtin(node, name)
        elif isinstance(node, ast.Assign):
            for tgt in node.targets:
                self.target(tgt)
            self.expr(node.value)
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.op, ast.MatMult):
                self.unsupported(node, "operator @")
            if not isinstance(node.target, (ast.Name, ast.Attribute, ast.Subscript)):
                self.fail(node, "bad augmented assignment target")
            self.target(node.target)
            self.expr(node.value)
        elif isinstance(node, ast.Expr):
            self.expr(node.value)
        elif isinstance(node, ast.If):
            self.expr(node.test)
            self.body(node.body)
            self.body(node.orelse)
        elif isinstance(node, ast.While):
            if node.orelse:
                self.unsupported(node, "else clause on a loop")
            self.expr(node.test)
            self.loop(node.body)
        elif isinstance(node, ast.For):
            if node.orelse:
                self.unsupported(node, "else clause on a loop")
            self.target(node.target)
            self.expr(node.iter)
            self.loop(node.body)
        elif isinstance(node, ast.Try):
            self.try_(node)
        elif isinstance(node, ast.Raise):
            if node.cause is not None:
                self.unsupported(node, "raise ... from")
            if node.exc is None:
                if self.handler_depth == 0:
                    self.fail(node, "bare raise outside an except block is not supported")
            else:
                self.expr(node.exc)
        elif isinstance(node, ast.Assert):
            self.expr(node.test)
            if node.msg is not None:
                self.expr(node.msg)
        elif isinstance(node, ast.Return):
            if not self.in_function:
                self.fail(node, "'return' outside function")
            if node.value is not None:
                self.expr(node.value)
        elif isinstance(node, (ast.Break, ast.Continue)):
            if self.loop_depth == 0:
                self.fail(node, f"'{'break' if isinstance(node, ast.Break) else 'continue'}'"
                                " outside loop")
        elif isinstance(node, ast.Delete):
            for tgt in node.targets:
                if not isinstance(tgt, ast.Subscript) or isinstance(tgt.slice, ast.Slice):
                    self.unsupported(tgt, "del of anything but d[key] / lst[index]")
                self.expr(tgt.value)
                self.expr(tgt.slice)
        elif isinstance(node, ast.Pass):
            pass
        else:
            self.unsupported(node, f"statement '{type(node).__name__}'")

    def body(self, stmts: list[ast.stmt]) -> None:
        for s in stmts:
            self.stmt(s)

    def loop(self, stmts: list[ast.stmt]) -> None:
        self.loop_depth += 1
        self.body(stmts)
        self.loop_depth -= 1

    def try_(self, node: ast.Try) -> None:
        if node.finalbody:
            self.unsupported(node, "finally")
        if node.orelse:
            self.unsupported(node, "else clause on try")
        self.body(node.body)
        for h in node.handlers:
            if h.type is not None:
                types = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
                for t in types:
                    if not (isinstance(t, ast.Name) and t.id in BUILTIN_EXCEPTIONS):
                        self.fail(t, "except clauses may only name built-in exception "
                                     f"classes; {ast.unparse(t)!r} is not one")
            if h.name is not None:
                self.not_builtin(h, h.name)
            self.handler_depth += 1
            self.body(h.body)
            self.handler_depth -= 1

    def target(self, node: ast.expr) -> None:
        if isinstance(node, ast.Name):
            self.not_builtin(node, node.id)
        elif isinstance(node, ast.Attribute):
            self.expr(node.value)
        elif isinstance(node, ast.Subscript):
            if isinstance(node.slice, ast.Slice):
                self.unsupported(node, "slice assignment")
            self.expr(node.value)
            self.expr(node.slice)
        elif isinstance(node, (ast.Tuple, ast.List)):
            if len(node.elts) > 255:
                self.fail(node, "more than 255 names to unpack")
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    self.unsupported(elt, "starred assignment target")
                self.target(elt)
        else:
            self.fail(node, f"cannot assign to {type(node).__name__}")

    # ---- expressions

    def expr(self, node: ast.expr) -> None:
        t = type(node)
        if t in _EXPR_NAMES:
            self.unsupported(node, _EXPR_NAMES[t])
        if isinstance(node, ast.Constant):
            self.constant(node)
        elif isinstance(node, ast.Name):
            self.name(node)
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id in self.modules:
                self.module_attr(node, "load")
            else:
                self.expr(node.value)
        elif isinstance(node, ast.Subscript):
            self.expr(node.value)
            if isinstance(node.slice, ast.Slice):
                if node.slice.step is not None:
                    self.unsupported(node, "slice step")
                for part in (node.slice.lower, node.slice.upper):
                    if part is not None:
                        self.expr(part)
            else:
                self.expr(node.slice)
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.MatMult):
                self.unsupported(node, "operator @")
            self.expr(node.left)
            self.expr(node.right)
        elif isinstance(node, ast.UnaryOp):
            self.expr(node.operand)
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                self.expr(v)
        elif isinstance(node, ast.Compare):
            self.expr(node.left)
            for c in node.comparators:
                self.expr(c)
        elif isinstance(node, ast.IfExp):
            self.expr(node.test)
            self.expr(node.body)
            self.expr(node.orelse)
        elif isinstance(node, (ast.List, ast.Tuple)):
            if len(node.elts) > 0xFFFF:
                self.fail(node, "literal with more than 65535 items")
            for e in node.elts:
                self.expr(e)
        elif isinstance(node, ast.Dict):
            if len(node.keys) > 0xFFFF:
                self.fail(node, "literal with more than 65535 items")
            for k, v in zip(node.keys, node.values):
                if k is None:
                    self.unsupported(v, "dict unpacking (**)")
                self.expr(k)
                self.expr(v)
        elif isinstance(node, ast.JoinedStr):
            for v in node.values:
                if isinstance(v, ast.FormattedValue):
                    self.formatted(v)
        elif isinstance(node, ast.FormattedValue):
            self.formatted(node)
        else:
            self.unsupported(node, f"expression '{type(node).__name__}'")

    def constant(self, node: ast.Constant) -> None:
        v = node.value
        if isinstance(v, bool) or v is None or isinstance(v, (float, str)):
            return
        if isinstance(v, int):
            if not INT64_MIN <= v <= INT64_MAX:
                self.fail(node, "integer literal outside the 64-bit range")
            return
        if isinstance(v, bytes):
            self.unsupported(node, "bytes literal")
        if isinstance(v, complex):
            self.unsupported(node, "complex literal")
        self.unsupported(node, f"constant {v!r}")

    def name(self, node: ast.Name) -> None:
        if node.id in self.modules:
            self.fail(node, f"module '{node.id}' may only be used as "
                            + " or ".join(f"{node.id}.{a}" + ("()" if how == "call" else "")
                                          for a, how in MODULE_ATTRS[node.id].items()))
        if node.id not in BUILTIN_NAMES and node.id != "__name__" and hasattr(builtins, node.id):
            self.unsupported(node, f"built-in '{node.id}'")

    def module_attr(self, node: ast.Attribute, how: str) -> None:
        mod = node.value.id
        allowed = MODULE_ATTRS[mod]
        if allowed.get(node.attr) != how:
            self.unsupported(node, f"'{mod}.{node.attr}'" + (" called" if how == "call" else ""))

    def call(self, node: ast.Call) -> None:
        f = node.func
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.unsupported(a, "*args in a call")
        if node.keywords:
            is_print = isinstance(f, ast.Name) and f.id == "print"
            for kw in node.keywords:
                if not is_print or kw.arg not in PRINT_KEYWORDS:
                    self.unsupported(node, "keyword argument (only print's sep= and end=)")
            if len({kw.arg for kw in node.keywords}) != len(node.keywords):
                self.fail(node, "keyword argument repeated")
            for kw in node.keywords:
                self.expr(kw.value)
        if len(node.args) > 255:
            self.fail(node, "call with more than 255 arguments")
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                and f.value.id in self.modules:
            self.module_attr(f, "call")
        else:
            self.expr(f)
        for a in node.args:
            self.expr(a)

    def formatted(self, node: ast.FormattedValue) -> None:
        if node.conversion != -1:
            self.unsupported(node, "f-string conversion (!r, !s, !a)")
        self.expr(node.value)
        spec = node.format_spec
        if spec is not None:
            if not all(isinstance(v, ast.Constant) for v in spec.values):
                self.unsupported(node, "nested replacement field in a format spec")


def _is_docstring(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str))
