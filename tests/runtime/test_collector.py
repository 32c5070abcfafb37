"""The stop-the-world sliding mark-compact collector."""
import numpy as np
import pytest

import gcheap
from gcheap import HeapExhausted
from gcheap import _lowlevel as ll

NODE = 40  # header + 2 refs + 2 scalars


def test_sparse_heap_gets_denser(rt, Node):
    keep = []
    for i in range(20000):
        n = rt.new(Node, value=i)
        if i % 2 == 0:
            keep.append(n)
    del n
    used_before = rt.heap_info()["used"]
    rep = rt.gc()
    live = 10000 * NODE
    assert rep.live_bytes == live and rep.live_objects == 10000
    assert rt.heap_info()["used"] == live
    assert rep.freed_bytes == used_before - live
    assert rep.moved_bytes > 0.9 * live  # all but the first object slid down
    # the freed pages stay present (zeroed) for allocation: below the soft limit
    assert rep.rss_after <= max(rt.heap_info()["soft_limit"], rep.rss_before)
    assert [n.value for n in keep] == list(range(0, 20000, 2))
    addrs = [n._address() for n in keep]
    base = rt.heap_info()["address"]
    assert addrs == [base + i * NODE for i in range(10000)], "order preserved, no gaps"
    rt.verify()


def test_objects_spanning_pages_keep_their_references(rt, Node):
    garbage = [rt.new_array("u8", 3000) for _ in range(5)]
    arr = rt.new_array("ref", 1500)          # 12 KiB: spans 3-4 pages
    nodes = []
    for i in range(1500):
        _ = rt.new_array("u8", 100)          # garbage between the targets
        nodes.append(rt.new(Node, value=i))
        arr[i] = nodes[-1]
    nodes = nodes[::3]                       # arr keeps all of them anyway
    del garbage
    a0 = arr._address()
    rt.gc()
    assert arr._address() < a0
    assert arr._address() // 4096 != (arr._address() + 12008 - 1) // 4096
    for i in range(1500):
        assert arr[i].value == i
    assert all(arr[3 * k].same(n) for k, n in enumerate(nodes))
    rt.verify()


def test_large_arrays_move_intact():
    with gcheap.Runtime(heap_size="64M") as rt:
        first = rt.new_array("f64", 1_000_000)  # becomes garbage
        big = rt.new_array("f64", 2_000_000)    # 16 MB
        vals = np.random.default_rng(1).random(2_000_000)
        for i in range(0, 2_000_000, 99991):
            big[i] = float(vals[i])
        ints = rt.new_array("i64", 500_000)
        ints[-1] = -5
        expect = big.to_numpy()
        del first
        rep = rt.gc()
        assert rep.moved_bytes >= 16_000_000
        assert np.array_equal(big.to_numpy(), expect) and ints[499_999] == -5
        rt.verify()


def test_heap_exhaustion_raises_and_heap_stays_usable():
    with gcheap.Runtime(heap_size="2M") as rt:
        Node = rt.define_class("Node", refs=["next"], scalars=["v"])
        head = None
        count = 0
        with pytest.raises(HeapExhausted) as ei:
            while True:
                n = rt.new(Node, v=count)
                n.next = head
                head = n
                count += 1
        assert isinstance(ei.value, MemoryError)
        assert count * 32 > 1.9e6
        rt.verify()
        # the list is intact
        n, expect = head, count - 1
        for _ in range(100):
            assert n.v == expect
            n, expect = n.next, expect - 1
        with pytest.raises(HeapExhausted):
            rt.new_array("u8", 3 << 20)  # larger than the heap
        # drop half of the list: allocation works again
        n = head
        for _ in range(count // 2):
            n = n.next
        n.next = None
        del n
        rt.gc()
        more = [rt.new(Node, v=i) for i in range(1000)]
        assert more[-1].v == 999 and head.v == count - 1
        rt.verify()


def test_allocation_collects_when_full():
    with gcheap.Runtime(heap_size="2M", collector="stw") as rt:
        Node = rt.define_class("Node", scalars=["v"])
        keep = rt.new(Node, v=5)
        for i in range(200_000):  # 3.2 MB of garbage through a 2 MiB heap
            rt.new(Node, v=i)
        st = rt.stats()
        assert st["collections"] >= 1
        assert {p.cause for p in st["pauses"]} == {"allocation"}
        assert keep.v == 5
        rt.verify()


def test_compact_page_from_image_matches_in_place_slide(rt, Node):
    """gr_compact_page building from a copy (as cmc does from from-space) gives
    byte for byte the heap that the in-place stw slide produces."""
    keep = []
    for i in range(3000):
        n = rt.new(Node, value=i, weight=i / 3)
        if i % 3:
            keep.append(n)
            if len(keep) > 1:
                n.left = keep[-2]
        if i % 100 == 0:
            a = rt.new_array("ref", 600)
            a[599] = n
            if i % 200 == 0:
                keep.append(a)
    image = rt.debug_compact_image()
    rt.gc()
    info = rt.heap_info()
    assert len(image) == info["used"] > 0
    assert ll.memory_at(info["address"], info["used"]) == image


def test_stress_mode_small_program():
    with gcheap.Runtime(heap_size="4M", stress=True, verify=True) as rt:
        Node = rt.define_class("Node", refs=["left", "right"], scalars=["v"])

        def tree(d):
            n = rt.new(Node, v=d)
            if d > 0:
                n.left = tree(d - 1)
                n.right = tree(d - 1)
            return n

        def check(n, d):
            if n is None:
                return 0
            assert n.v == d
            return 1 + check(n.left, d - 1) + check(n.right, d - 1)

        t = tree(6)
        s = rt.new_str("survives")
        assert check(t, 6) == 127
        st = rt.stats()
        assert st["collections"] >= 127 + 1
        assert {p.cause for p in st["pauses"]} == {"stress"}
        assert str(s) == "survives"


def test_gc_of_empty_heap(rt):
    rep = rt.gc()
    assert rep.live_bytes == 0 and rt.heap_info()["used"] == 0
    rt.verify()
    rt.new_array("i64", 3)[0] = 1
    rt.verify()


def test_instances_spanning_pages_with_refs_on_every_page(rt, Node):
    """An instance of 1200 reference fields (9.6 KiB) spans 3-4 pages; the
    references on its later pages are rewritten from the page metadata's copy
    of its class, after its header has already been overwritten by the slide."""
    Big = rt.define_class("Big", refs=[f"r{i}" for i in range(1200)], scalars=["tag"])
    bigs = []
    for k in range(4):
        _ = rt.new_array("u8", 5000 + 1000 * k)           # garbage before each
        b = rt.new(Big, tag=k)
        for i in range(0, 1200, 7):
            _ = rt.new(Node)                               # garbage between targets
            setattr(b, f"r{i}", rt.new(Node, value=k * 10000 + i))
        bigs.append(b)
    before = [b._address() for b in bigs]
    rt.gc()
    assert all(b._address() < a for b, a in zip(bigs, before))
    for k, b in enumerate(bigs):
        assert b.tag == k
        for i in range(1200):
            r = getattr(b, f"r{i}")
            assert (r is None) == (i % 7 != 0)
            if r is not None:
                assert r.value == k * 10000 + i
    rt.verify()


def test_spanning_object_moving_less_than_a_page(rt, Node):
    """Regression guard for the in-place slide: an object that spans pages and
    moves by only 48 bytes has its old header overwritten (while its first
    destination page is written) before its later pages are built; those pages
    must take its class and length from the page metadata, not the heap."""
    junk = rt.new_array("i64", 5)                     # 48 bytes of garbage at the start
    arr = rt.new_array("ref", 2000)                   # 16 KiB: 4-5 pages
    targets = [rt.new(Node, value=i) for i in range(2000)]
    for i, t in enumerate(targets):
        arr[i] = t
    del junk, targets
    a0 = arr._address()
    rep = rt.gc()
    assert a0 - arr._address() == 48
    assert rep.moved_bytes == rep.live_bytes
    assert [arr[i].value for i in range(2000)] == list(range(2000))
    rt.verify()
