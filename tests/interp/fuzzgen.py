"""Hypothesis strategies for random subset programs (shared by the fuzz tests).

Programs are built from a small grammar over a few variables, literals of every type
and every operator, so most are valid subset code that terminates (loops are bounded
`for` over small ranges); many raise at run time, which is part of the point.
"""
import functools

from hypothesis import strategies as st

NAMES = ["a", "b", "c", "xs", "d"]
LITERALS = ["0", "1", "-3", "7", "2.5", "0.0", "1e300", "'s'", "''", "'ab'", "True",
            "False", "None", "[]", "[1, 2]", "(1, 'x')", "{}", "{'k': 1}", "9223372036854775807"]
BINOPS = ["+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^"]
CMPOPS = ["==", "!=", "<", "<=", ">", ">=", "is", "is not", "in", "not in"]


@functools.lru_cache(maxsize=None)
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
        st.builds(lambda a, b, c, d: f"{a}[{b}:{c}:{d}]", sub, sub, sub, sub),
        st.builds(lambda a, b: f"{{{a}, {b}}}", sub, sub),
        st.builds(lambda a, b: f"[q * 2 for q in ({a}, {b}) if q]", sub, sub),
        st.builds(lambda a: f"{{q: q for q in {a}}}", sub),
        st.builds(lambda a: f"sum(q for q in {a})", sub),
        st.builds(lambda a, b: f"f({a}, w={b})", sub, sub),
        st.builds(lambda a: f"(lambda q, *r: (q, r))({a}, 1)", sub),
        st.builds(lambda g, a: f"{g}({a})",
                  st.sampled_from(["sorted", "reversed", "set", "frozenset", "enumerate", "any",
                                   "all", "hash", "repr", "round", "chr", "ord", "iter", "next"]), sub),
        st.builds(lambda a, b: f"'%s-%r' % ({a}, {b})", sub, sub),
        st.builds(lambda a, b: f"'{{}}:{{!r}}'.format({a}, {b})", sub, sub),
        st.builds(lambda f, a: f"{f}({a})",
                  st.sampled_from(["len", "str", "abs", "int", "float", "min", "max", "bool",
                                   "list", "tuple", "f"]), sub),
        st.builds(lambda a, b: f"[{a}, {b}]", sub, sub),
        st.builds(lambda a, b: f"{{{a}: {b}}}", sub, sub),
        st.builds(lambda a: f'f"<{{{a}}}>"', sub),
        st.builds(lambda a, m: f"{a}.{m}", sub, st.sampled_from(["x", "get(1)", "pop()",
                                                                 "append(2)", "keys()", "items()",
                                                                 "split()", "upper()", "add(1)",
                                                                 "count(1)", "index(1)", "copy()"])),
    )


@functools.lru_cache(maxsize=None)
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
        st.builds(lambda v: f"del xs[{v}]", e),
        st.builds(lambda v, w: f"xs[{v}:{w}] = [1, 2]", e, e),
        st.builds(lambda v: f"xs[::2] = {v}", e),
        st.builds(lambda v: f"a, *b = {v}", e),
        st.builds(lambda v: f"o.attr = {v}", e),
        st.builds(lambda v: f"print(o.method({v}), o.attr)", e),
        st.builds(lambda v: f"print(list(g({v})))", e),
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
        st.builds(lambda b, h: f"try:\n{indent(b)}\nfinally:\n{indent(h)}", body, body),
        st.builds(lambda n, b: f"while {n}:\n{indent(b)}\n    break\nelse:\n    print('else')",
                  e, body),
        st.builds(lambda b, x, h: f"try:\n{indent(b)}\nexcept {x} as err:\n{indent(h)}",
                  body, st.sampled_from(["ValueError", "Exception", "(TypeError, KeyError)",
                                         "ZeroDivisionError"]), body),
    )


PRELUDE = ("a = 1\nb = 2.5\nc = 'str'\nxs = [1, 2, 3]\nd = {'k': 1}\n"
           "def f(v, w=3):\n    return v\n"
           "class K:\n    def __init__(self):\n        self.attr = 0\n"
           "    def method(self, v):\n        self.attr = v\n        return [v]\n"
           "o = K()\n"
           "def g(v):\n    for q in (v, v):\n        yield q\n")


def programs():
    return st.lists(statements(), min_size=1, max_size=6).map(
        lambda stmts: PRELUDE + "\n".join(stmts) + "\n")
