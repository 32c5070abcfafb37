"""The Python API contract of gcheap.Runtime and its errors."""
import threading

import numpy as np
import pytest

import gcheap
from gcheap import (BadIndex, ForeignRef, GCHeapError, HeapCorruption, InvalidOption,
                    RuntimeClosed, StaleRef, UnknownField, ValueOutOfRange, WrongType)


def test_issue_example():
    with gcheap.Runtime(heap_size="16M", collector="stw") as rt:
        Node = rt.define_class("Node", refs=["left", "right"], scalars=["value", ("weight", "f64")])
        n = rt.new(Node, value=1)
        n.left = rt.new(Node)
        assert n.left.value == 0 and n.right is None and n.value == 1 and n.weight == 0.0
        a = rt.new_array("ref", 10)
        a[3] = n
        assert len(a) == 10 and a[0] is None
        b = rt.new_array("f64", 1000)
        b[0] = 1.5
        arr = b.to_numpy()
        assert arr.dtype == np.float64 and arr[0] == 1.5 and arr[1:].sum() == 0
        arr[0] = 7.0
        assert b[0] == 1.5, "to_numpy is a copy"
        s = rt.new_str("hello")
        assert str(s) == "hello"
        assert n.same(a[3]) and not n.same(n.left) and not n.same(None)
        report = rt.gc()
        assert isinstance(report, gcheap.GCReport) and report.collector == "stw"
        assert list(report.phases) == ["safepoint", "mark", "compute_liveness", "compute_page_metadata",
                                       "update_roots", "compact", "release"]
        assert report.pause_s >= sum(report.phases.values()) * 0.999
        d = report.as_dict()
        for k in ("collector", "pause_s", "phases", "live_bytes", "freed_bytes", "moved_bytes",
                  "rss_before", "rss_after"):
            assert k in d
        assert n.same(a[3]) and n.left.value == 0 and str(s) == "hello" and b[0] == 1.5
        st = rt.stats()
        assert st["collections"] == 1 and len(st["pauses"]) == 1 and st["pauses"][0].seq == 1
        info = rt.heap_info()
        assert set(info) >= {"address", "capacity", "used", "live"}
        assert info["address"] % (2 << 20) == 0 and info["capacity"] == 16 << 20
        rt.verify()


@pytest.mark.parametrize("size,expect", [("512K", 2 << 20), ("64M", 64 << 20), ("1G", 1 << 30),
                                         (3 << 20, 4 << 20), ("2mib", 2 << 20), ("1.5M", 2 << 20)])
def test_heap_size_parsing(size, expect):
    with gcheap.Runtime(heap_size=size) as r:
        assert r.heap_info()["capacity"] == expect


@pytest.mark.parametrize("kwargs,name", [
    ({"heap_size": "12Q"}, "heap_size"), ({"heap_size": -1}, "heap_size"), ({"heap_size": 0}, "heap_size"),
    ({"heap_size": 1.5}, "heap_size"), ({"heap_size": True}, "heap_size"), ({"heap_size": "2T"}, "heap_size"),
    ({"collector": "nope"}, "collector"), ({"collector": 1}, "collector"),
    ({"verify": "yes"}, "verify"), ({"stress": 1}, "stress"),
])
def test_bad_options(kwargs, name):
    with pytest.raises(InvalidOption, match=name) as ei:
        gcheap.Runtime(**kwargs)
    assert isinstance(ei.value, ValueError) and isinstance(ei.value, GCHeapError)


def test_field_errors(rt, Node):
    n = rt.new(Node)
    with pytest.raises(UnknownField):
        n.nope
    with pytest.raises(AttributeError):
        n.nope = 1
    with pytest.raises(UnknownField):
        rt.new(Node, nope=1)
    with pytest.raises(WrongType):
        n.value = "x"
    with pytest.raises(TypeError):
        n.value = 1.5
    with pytest.raises(WrongType):
        n.weight = "x"
    with pytest.raises(WrongType):
        n.left = 5
    with pytest.raises(ValueOutOfRange):
        n.value = 2 ** 63
    n.value = -2 ** 63
    assert n.value == -2 ** 63
    n.weight = 3  # ints are fine for f64
    assert n.weight == 3.0
    with pytest.raises(WrongType):
        rt.new(int)
    with pytest.raises(InvalidOption):
        rt.define_class("Node", refs=["x"])  # duplicate class
    for bad in (dict(name="1x"), dict(name="A", refs=["a", "a"]), dict(name="B", refs="ab"),
                dict(name="C", scalars=[("x", "i32")]), dict(name="D", refs=["_h"]),
                dict(name="E", refs=["same"])):
        with pytest.raises(InvalidOption):
            rt.define_class(**bad)


def test_array_errors(rt, Node):
    a = rt.new_array("i64", 4)
    for bad in (4, -5, 2 ** 70):
        with pytest.raises(BadIndex):
            a[bad]
        with pytest.raises(IndexError):
            a[bad] = 1
    with pytest.raises(WrongType):
        a["x"]
    with pytest.raises(TypeError):
        a[1.0] = 2
    with pytest.raises(WrongType):
        a[0] = "x"
    a[-1] = 9
    assert a[3] == 9 and list(a) == [0, 0, 0, 9]
    u = rt.new_array("u8", 3)
    with pytest.raises(ValueOutOfRange):
        u[0] = 256
    u[1] = 255
    assert list(u.to_numpy()) == [0, 255, 0]
    r = rt.new_array("ref", 2)
    with pytest.raises(WrongType):
        r[0] = 3
    with pytest.raises(WrongType):
        r.to_numpy()
    with pytest.raises(InvalidOption):
        rt.new_array("i32", 3)
    with pytest.raises(InvalidOption):
        rt.new_array("i64", -1)
    with pytest.raises(WrongType):
        rt.new_array("i64", "3")
    with pytest.raises(WrongType):
        rt.new_str(b"bytes")
    assert len(rt.new_array("f64", 0)) == 0


def test_foreign_refs(rt, Node):
    with gcheap.Runtime(heap_size="4M") as other:
        ONode = other.define_class("Node", refs=["left"])
        o = other.new(ONode)
        n = rt.new(Node)
        with pytest.raises(ForeignRef):
            n.left = o
        with pytest.raises(ValueError):
            rt.new_array("ref", 1)[0] = o
        with pytest.raises(ForeignRef):
            rt.new(ONode)
        with pytest.raises(ForeignRef):
            rt.globals["x"] = o
        assert not n.same(o)


def test_strings_unicode(rt):
    for text in ["", "a", "héllo wörld", "\U0001f600" * 100, "x" * 10000, "\ud800"]:
        assert str(rt.new_str(text)) == text
    assert rt.new_str("héllo").nbytes == 6


def test_closed_runtime():
    rt = gcheap.Runtime(heap_size="4M")
    Node = rt.define_class("Node", refs=["left"], scalars=["v"])
    n = rt.new(Node)
    a = rt.new_array("f64", 3)
    rt.close()
    rt.close()  # idempotent
    for op in (lambda: n.v, lambda: n.left, lambda: setattr(n, "v", 1), lambda: a[0], lambda: len(a),
               lambda: rt.new(Node), lambda: rt.new_array("ref", 1), lambda: rt.gc(), lambda: rt.verify(),
               lambda: rt.heap_info(), lambda: rt.stats(), lambda: rt.define_class("X"),
               lambda: rt.new_str("x"), lambda: a.to_numpy()):
        with pytest.raises(RuntimeClosed):
            op()
    del n, a  # freeing handles after close is harmless


def test_context_manager_closes():
    with gcheap.Runtime(heap_size="4M") as rt:
        pass
    assert rt.closed
    with pytest.raises(RuntimeClosed):
        rt.gc()


def test_scope_frees_handles(rt, Node):
    keep = rt.new(Node, value=1)
    before = rt.stats()["handles_live"]
    with rt.scope() as sc:
        tmp = [rt.new(Node, value=i) for i in range(100)]
        kept = sc.keep(tmp[5])
        assert rt.stats()["handles_live"] == before + 101
    assert rt.stats()["handles_live"] == before + 1
    with pytest.raises(StaleRef):
        tmp[0].value
    with pytest.raises(StaleRef):
        keep.left = tmp[0]
    assert kept.value == 5 and keep.value == 1
    report = rt.gc()
    assert report.live_bytes == 2 * 40


def test_dropping_ref_frees_handle(rt, Node):
    before = rt.stats()["handles_live"]
    n = rt.new(Node)
    assert rt.stats()["handles_live"] == before + 1
    del n
    assert rt.stats()["handles_live"] == before


def test_global_roots(rt, Node):
    rt.globals["root"] = rt.new(Node, value=42)
    rt.globals["none"] = None
    assert "root" in rt.globals and len(rt.globals) == 2
    for _ in range(1000):
        rt.new(Node)
    rt.gc()
    assert rt.globals["root"].value == 42 and rt.globals["none"] is None
    assert rt.heap_info()["used"] == 40
    del rt.globals["root"]
    rt.gc()
    assert rt.heap_info()["used"] == 0
    with pytest.raises(KeyError):
        rt.globals["root"]
    with pytest.raises(WrongType):
        rt.globals["x"] = 3


def test_verify_detects_corruption(rt, Node):
    n = rt.new(Node, value=1)
    n.left = rt.new(Node)
    rt.verify()
    addr = n._address()
    from gcheap import _lowlevel as ll
    # overwrite n.left (word 1) with an address inside n: not an object start
    ll.ffi.cast("uint64_t *", addr)[1] = addr + 8
    with pytest.raises(HeapCorruption, match=hex(addr)) as ei:
        rt.verify()
    assert isinstance(ei.value, GCHeapError)
    ll.ffi.cast("uint64_t *", addr)[1] = 0
    rt.verify()


def test_verify_option_catches_corruption_in_gc():
    with gcheap.Runtime(heap_size="4M", collector="stw", verify=True) as rt:
        Node = rt.define_class("Node", refs=["left"])
        n = rt.new(Node)
        rep = rt.gc()
        assert "verify_before" in rep.phases and "verify_after" in rep.phases
        from gcheap import _lowlevel as ll
        ll.ffi.cast("uint64_t *", n._address())[0] = 0xFFFF  # bad class id
        with pytest.raises(HeapCorruption, match="bad class id"):
            rt.gc()


def test_threads_attach_automatically(rt, Node):
    out = []

    def work():
        out.append(rt.new(Node, value=7).value)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert out == [7] * 4
    assert rt.stats()["objects_allocated"] == 4


def test_pause_summary_percentiles():
    from gcheap.runtime.report import pause_summary
    s = pause_summary([float(i) for i in range(1, 101)])
    assert (s["count"], s["p50"], s["p90"], s["p99"], s["p99.9"], s["max"], s["total"]) == \
        (100, 50.0, 90.0, 99.0, 100.0, 100.0, 5050.0)
    assert pause_summary([])["count"] == 0


def test_stats_pause_summary(rt, Node):
    for _ in range(5):
        rt.new(Node)
        rt.gc()
    st = rt.stats()
    summ = st["pause_summary"]
    assert summ["count"] == len(st["pauses"]) >= 5 and summ["max"] == max(p.pause_s for p in st["pauses"])
    assert abs(summ["total"] - st["total_pause_s"]) < 1e-6
