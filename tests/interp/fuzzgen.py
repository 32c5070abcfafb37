"""Hypothesis strategies for random subset programs (shared by the fuzz tests).

Programs are built from a small grammar over a few variables, literals of every type
and every operator, so most are valid subset code that terminates (loops are bounded
`for` over small ranges); many raise at run time, which is part of the point.
"""
from hypothesis import strategies as st

NAMES = ["a", "b", "c", "xs", "d"]
LITERALS = ["0", "1", "-3", "7", "2.5", "0.0", "1e300", "'s'", "''", "'ab'", "True",
            "False", "None", "[]", "[1, 2]", "(1, 'x')", "{}", "{'k': 1}", "9223372036854775807"]
BINOPS = ["+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^"]
CMPOPS = ["==", "!=", "<", "<=", ">", ">=", "is", "is not", "in", "not in"]


def expressions(depth=3):
    leaf = st.one_of(st.sampled_from(LITERALS), st.sampled_from(NAMES))
    if depth == 0:
        return leaf

    sub = expressions(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda a, o, b: f"({a} {o} {b})", sub, st.sampled_from(BINOPS), sub),
        st.builds(lambda a, o, b: f"({a} {o} {b})", sub, st.sampled_from(CMPOPS), sub),
        st.builds(lambda o, a: f"({o}{a})", st.sampled_from(["-", "not ", "~"]), sub),
        st.builds(lambda a, b: f"({a} and {b})", sub, sub),
        st.builds(lambda a, b: f"({a} or {b})", sub, sub),
        st.builds(lambda a, b, c: f"({a} if {b} else {c})", sub, sub, sub),
        st.builds(lambda a, b: f"{a}[{b}]", sub, sub),
        st.builds(lambda a, b, c: f"{a}[{b}:{c}]", sub, sub, sub),
        st.builds(lambda f, a: f"{f}({a})",
                  st.sampled_from(["len", "str", "abs", "int", "float", "min", "max", "bool",
                                   "list", "tuple", "f"]), sub),
        st.builds(lambda a, b: f"[{a}, {b}]", sub, sub),
        st.builds(lambda a, b: f"{{{a}: {b}}}", sub, sub),
        st.builds(lambda a: f'f"<{{{a}}}>"', sub),
        st.builds(lambda a, m: f"{a}.{m}", sub, st.sampled_from(["x", "get(1)", "pop()",
                                                                 "append(2)", "keys()"])),
    )


def statements(depth=2):
    e = expressions(2)
    simple = st.one_of(
        st.builds(lambda n, v: f"{n} = {v}", st.sampled_from(NAMES), e),
        st.builds(lambda n, o, v: f"{n} {o}= {v}", st.sampled_from(NAMES),
                  st.sampled_from(BINOPS), e),
        st.builds(lambda v: f"print({v})", e),
        st.builds(lambda v, w: f"print({v}, {w}, sep='-')", e, e),
        st.builds(lambda v: f"xs.append({v})", e),
        st.builds(lambda k, v: f"d[{k}] = {v}", e, e),
        st.builds(lambda v: f"a, b = {v}", e),
        st.builds(lambda v: f"raise ValueError({v})", e),
        st.builds(lambda v: f"assert {v}", e),
    )
    if depth == 0:
        return simple
    body = st.lists(statements(depth - 1), min_size=1, max_size=3)

    def indent(lines):
        return "\n".join("    " + ln for stmt in lines for ln in stmt.splitlines())

    return st.one_of(
        simple,
        st.builds(lambda c, b, o: f"if {c}:\n{indent(b)}\nelse:\n{indent(o)}", e, body, body),
        st.builds(lambda n, b: f"for i in range({n}):\n{indent(b)}", st.integers(0, 4), body),
        st.builds(lambda b, x, h: f"try:\n{indent(b)}\nexcept {x} as err:\n{indent(h)}",
                  body, st.sampled_from(["ValueError", "Exception", "(TypeError, KeyError)",
                                         "ZeroDivisionError"]), body),
    )


PRELUDE = ("a = 1\nb = 2.5\nc = 'str'\nxs = [1, 2, 3]\nd = {'k': 1}\n"
           "def f(v, w=3):\n    return v\n")


def programs():
    return st.lists(statements(), min_size=1, max_size=6).map(
        lambda stmts: PRELUDE + "\n".join(stmts) + "\n")
