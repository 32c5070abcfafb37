"""Helpers for the concurrent compactor's tests: a filled region for the XOR
page builder, mutator threads that write across it, a fragmented runtime heap."""
from __future__ import annotations

import threading

import pytest

from gcheap import _lowlevel as ll
from gcheap.cmc import PAGE

SEED = 12345


@pytest.fixture
def region():
    size = 8 << 20
    addr = ll.map_anon(size, 2 << 20)
    ll.cmc_test_fill(addr, size, SEED)
    yield addr, size
    ll.unmap(addr, size)


def mutate_concurrently(addr, size, nthreads=2, val=0xABCDEF):
    """Threads touching pages across the heap (GIL released in C), each xoring
    val into word 0 of its pages: a page built twice or installed after the
    write would lose or double the xor."""
    npages = size // PAGE
    def work(k):
        ll.cmc_test_touch(addr + k * PAGE, npages // (nthreads * 3), nthreads * 3, True, val)
    ts = [threading.Thread(target=work, args=(k,)) for k in range(nthreads)]
    for t in ts:
        t.start()
    return ts


def undo_mutations(addr, size, nthreads=2, val=0xABCDEF):
    npages = size // PAGE
    for k in range(nthreads):
        ll.cmc_test_touch(addr + k * PAGE, npages // (nthreads * 3), nthreads * 3, True, val)


def eventually(read, ok, timeout=10.0):
    """read() until ok(value) (counters the fault thread updates just after waking
    the faulting thread), at most timeout seconds; returns the last value."""
    import time
    end = time.monotonic() + timeout
    value = read()
    while not ok(value) and time.monotonic() < end:
        time.sleep(0.001)
        value = read()
    return value


def build_fragmented(rt, n):
    Node = rt.define_class("Node", refs=["next", "peer"], scalars=["v", ("w", "f64")])
    nodes, arrays = [], []
    head = None
    for i in range(n):
        node = rt.new(Node, v=i, w=i / 7)
        rt.new_array("u8", 300)                    # garbage between live objects
        if i % 3 == 0:
            node.next = head
            head = node
        nodes.append(node)
        if i % 50 == 0:
            a = rt.new_array("i64", 100)
            for k in range(0, 100, 9):
                a[k] = i * 1000 + k
            arrays.append((i, a))
    for i in range(0, n, 2):                        # drop half: fragmentation
        nodes[i] = None
    return Node, head, nodes, arrays
