"""The subset checker: rejects what the interpreter does not run (docs/subset.md).

The subset is most of Python 3.11's language: what stays outside is checked here,
before anything runs, and reported as SubsetError with `file:line:col` (1-based
column) and what is not supported. check(tree, filename) walks a parsed module;
parse_and_check(source, filename) also compiles the source with CPython's own
compiler first, so every SyntaxError CPython would raise (including the scoping
ones, e.g. a nonlocal without a binding) is reported the same way.
"""
from __future__ import annotations

import ast

from gcheap.errors import SubsetError

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

_EXPR_NAMES = {
    ast.Await: "await",
}
_STMT_NAMES = {
    ast.AsyncWith: "async with", ast.AsyncFor: "async for",
    ast.AsyncFunctionDef: "async def", ast.Match: "match statement",
}
if hasattr(ast, "TryStar"):
    _STMT_NAMES[ast.TryStar] = "except*"
_COMP = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def check(tree: ast.Module, filename: str) -> None:
    """Raise SubsetError at the first construct of `tree` outside the subset."""
    _Checker(filename).visit(tree)


def parse_and_check(source: str, filename: str) -> ast.Module:
    """Parse `source` (syntax errors become SubsetError) and check it."""
    try:
        tree = ast.parse(source, filename)
        compile(tree, filename, "exec", dont_inherit=True)   # CPython's own SyntaxErrors
    except SyntaxError as e:
        raise SubsetError(filename, e.lineno or 1, e.offset or 1,
                          f"syntax error: {e.msg}") from None
    except (ValueError, RecursionError, MemoryError) as e:  # NUL bytes, absurd nesting
        raise SubsetError(filename, 1, 1, f"cannot parse: {e}") from None
    check(tree, filename)
    return tree


class _Checker(ast.NodeVisitor):
    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, node: ast.AST, what: str) -> None:
        raise SubsetError(self.filename, getattr(node, "lineno", 1),
                          getattr(node, "col_offset", 0) + 1, what)

    def unsupported(self, node: ast.AST, what: str) -> None:
        self.fail(node, f"{what} is not supported in the gcheap subset")

    def generic_visit(self, node: ast.AST) -> None:
        t = type(node)
        if t in _STMT_NAMES:
            self.unsupported(node, _STMT_NAMES[t])
        if t in _EXPR_NAMES:
            self.unsupported(node, _EXPR_NAMES[t])
        super().generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for kw in node.keywords:
            self.unsupported(kw.value if kw.arg else node, f"class keyword '{kw.arg or '**'}'")
        if len(node.bases) > 255:
            self.fail(node, "more than 255 base classes")
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        a = node.args
        if a.posonlyargs:
            self.unsupported(node, "positional-only parameter")
        if len(a.args) + len(a.kwonlyargs) > 255:
            self.fail(node, "more than 255 parameters")
        self.generic_visit(node)

    visit_Lambda = visit_FunctionDef

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.unsupported(node, "relative import")
        for alias in node.names:
            if alias.name == "*":
                self.unsupported(node, "from-import of *")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        v = node.value
        if isinstance(v, bool) or v is None or v is Ellipsis or isinstance(v, (float, str)):
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

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.MatMult):
            self.unsupported(node, "operator @")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.op, ast.MatMult):
            self.unsupported(node, "operator @")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if len(node.args) + len(node.keywords) > 255:
            self.fail(node, "call with more than 255 arguments")
        self.generic_visit(node)

    def _many(self, node: ast.AST, n: int) -> None:
        if n > 0xFFFF:
            self.fail(node, "literal with more than 65535 items")

    def visit_List(self, node: ast.List) -> None:
        self._many(node, len(node.elts))
        self.generic_visit(node)

    visit_Tuple = visit_List
    visit_Set = visit_List

    def visit_Dict(self, node: ast.Dict) -> None:
        self._many(node, len(node.keys))
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        if "__class__" in node.names:
            self.unsupported(node, "global __class__")
