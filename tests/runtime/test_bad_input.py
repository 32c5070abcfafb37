"""Junk into every entry point: a typed error (GCHeapError and its builtin), never a crash."""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

import gcheap
from gcheap import GCHeapError

junk = st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80), st.floats(allow_nan=True),
                 st.text(max_size=5), st.binary(max_size=5), st.just(math.inf),
                 st.lists(st.integers(), max_size=2), st.just(object()))

RT = gcheap.Runtime(heap_size="8M")
NODE = RT.define_class("Node", refs=["left"], scalars=["v", ("w", "f64")])
OTHER = gcheap.Runtime(heap_size="2M")
ONODE = OTHER.define_class("Node", refs=["left"])


def _typed(fn):
    try:
        fn()
    except GCHeapError:
        pass
    except KeyError:  # globals lookups by name are a mapping
        pass


@settings(max_examples=150, deadline=None)
@given(a=junk, b=junk, c=junk)
def test_junk_never_crashes(a, b, c):
    n = RT.new(NODE)
    arrs = [RT.new_array(k, 3) for k in ("ref", "i64", "f64", "u8")]
    s = RT.new_str("x")
    ops = [
        lambda: RT.new(a), lambda: RT.new(NODE, v=a), lambda: RT.new(NODE, left=a), lambda: RT.new(NODE, w=a),
        lambda: RT.new_array(a, b), lambda: RT.new_array("i64", a), lambda: RT.new_str(a),
        lambda: setattr(n, "v", a), lambda: setattr(n, "w", a), lambda: setattr(n, "left", a),
        lambda: n.same(a), lambda: RT.define_class(a, b, c), lambda: RT.define_class("X" + str(id(a)), a, b),
        lambda: RT.globals.__setitem__(a, b), lambda: RT.globals.__getitem__(a),
        lambda: gcheap.Runtime(heap_size=a), lambda: gcheap.Runtime(heap_size="4M", collector=a),
        lambda: gcheap.Runtime(heap_size="4M", verify=a), lambda: RT.new(ONODE),
        lambda: setattr(n, "left", OTHER.new(ONODE)),
    ]
    for arr in arrs:
        ops += [lambda arr=arr: arr[a], lambda arr=arr: arr.__setitem__(a, b),
                lambda arr=arr: arr.__setitem__(0, a), lambda arr=arr: arr.__setitem__(-1, a)]
    ops.append(lambda: str(s))
    for op in ops:
        _typed(op)
    RT.verify()
