import pytest

import gcheap


@pytest.fixture
def rt():
    with gcheap.Runtime(heap_size="16M") as r:
        yield r


@pytest.fixture
def Node(rt):
    return rt.define_class("Node", refs=["left", "right"], scalars=["value", ("weight", "f64")])
