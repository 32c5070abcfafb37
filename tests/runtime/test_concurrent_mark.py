"""Concurrent marking of collector cmc (csrc/gc/cmark.c, csrc/gc/cmc_cycle.c),
tested the way collectors are: mutator threads racing every phase with the
checkmark and missing-log verifiers on and random delays injected, in every
mode; the verifiers shown to catch a store that bypasses the barrier; the mark
stack overflowing into the bitmap rescan; remarks over budget that resume the
mutators; the pacer; a full heap that falls back to marking in the pause."""
from __future__ import annotations

import os
import threading
import time

import pytest
from hypothesis import HealthCheck, settings

import gcheap
from gcheap import _lowlevel as ll
from gcheap.errors import HeapCorruption
from tests.support.runtime_model import make_model_machine
from tests.support.threads import run_mutators_and_collector

pytestmark = pytest.mark.uffd
STRESS = os.environ.get("GCHEAP_STRESS") == "1"
MODES = [dict(fault_mode=f, install=i) for f in ("sigbus", "thread") for i in ("copy", "move", "auto")]
IDS = [f"{m['fault_mode']}-{m['install']}" for m in MODES]
CHECKED = dict(checks=("checkmark", "barrier"), stress_delay_us=200)


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_racing_mutators_with_both_verifiers_and_random_delays(mode):
    """Three mutator threads and a collecting thread; every remark re-marks the heap
    stop-the-world (checkmark) and checks the snapshot (missing-log verifier): a
    single reachable object left unmarked fails the cycle with HeapCorruption."""
    run_mutators_and_collector(3, 3000 if STRESS else 1200, heap="8M", collector="cmc", require_concurrent=True,
                               verify=True, **mode, **CHECKED)


@pytest.mark.parametrize("mode", MODES[:2], ids=IDS[:2])
def test_racing_mutators_through_catchup_pauses(mode):
    """catchup_kib=4: nearly every cycle's prepare runs in rounds, a catch-up pause
    retiring the TLABs between them, and the flip prepares only the rest; the
    mutators allocate and cut their lists meanwhile. Nothing is lost or kept."""
    st = run_mutators_and_collector(3, 3000 if STRESS else 1200, heap="8M", collector="cmc",
                                    require_concurrent=True, verify=True, catchup_kib=4, **mode, **CHECKED)
    assert sum(c["catchups"] for c in st["cycle_log"]) >= 1, st["cycle_log"]


@pytest.mark.parametrize("mode", MODES[:2], ids=IDS[:2])
def test_model_based_with_verifiers(mode):
    """The runtime's model-based state machine (an independent model of the object
    graph, compared after every step) under concurrent marking with the verifiers."""
    machine = make_model_machine(dict(collector="cmc", require_concurrent=True, **mode, **CHECKED))
    settings(max_examples=40 if STRESS else 6, stateful_step_count=50 if STRESS else 25, deadline=None,
             suppress_health_check=list(HealthCheck))(machine).TestCase().runTest()


def _graph(rt):
    Node = rt.define_class("Node", refs=["f", "g"], scalars=["v"])
    a = rt.new(Node, v=1)
    b = rt.new(Node, v=2)
    a.f = b
    rt.globals["a"] = a
    return Node, a, b


def _collect_in_thread(rt):
    box = {}

    def run():
        try:
            box["report"] = rt.gc()
        except BaseException as e:
            box["error"] = e
    t = threading.Thread(target=run)
    t.start()
    return t, box


def _wait_for_start_pause(rt, before: int):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(p["kind"] == "start" for p in ll.pauses(rt._c)[before:]):
            return
        time.sleep(0.001)
    raise AssertionError("no start pause")


@pytest.mark.parametrize("check,what", [("barrier", "missing barrier log"), ("checkmark", "checkmark")])
def test_a_store_that_bypasses_the_barrier_is_caught(check, what):
    """During marking (held after the start pause), b's only path a.f is cut by a
    store that bypasses the barrier, while a handle made after the snapshot keeps
    b reachable. Without the verifiers b would be freed under that handle; with
    them the cycle fails, names b and (checkmark) the path to it, and the heap is
    left as it was."""
    with gcheap.Runtime("16M", collector="cmc", require_concurrent=True, checks=(check,),
                        hold_after_start_ms=300, pacing=False) as rt:
        Node, a, b = _graph(rt)
        b_addr = ll.address(rt._c, b._h)
        del b
        n_before = len(ll.pauses(rt._c))
        t, box = _collect_in_thread(rt)
        _wait_for_start_pause(rt, n_before)
        b = a.f                                    # a root the snapshot did not see
        ll.test_store_ref_unbarriered(rt._c, a._h, 1, 0)   # a.f = None, no barrier
        t.join(30)
        assert isinstance(box.get("error"), HeapCorruption), box
        msg = str(box["error"])
        assert what in msg and hex(b_addr) in msg, msg
        if check == "checkmark":
            assert "path: root slot" in msg
        cycles = rt.cycles()
        assert cycles[-1]["failed"] < 0
        rt.verify()                                # the heap is untouched
        assert b.v == 2 and a.f is None
        a.f = b                                    # and the runtime goes on
        rep = rt.gc()
        assert rep.concurrent and rt.cycles()[-1]["failed"] == 0
        assert a.f.v == 2


def test_without_the_verifiers_the_same_bypass_loses_the_object():
    """The control: the same bypass with no check is a real collector bug (the
    handle then refers to freed memory): the verifiers above are what catches it."""
    with gcheap.Runtime("16M", collector="cmc", require_concurrent=True, hold_after_start_ms=300,
                        pacing=False, verify=True) as rt:
        Node, a, b = _graph(rt)
        del b
        n_before = len(ll.pauses(rt._c))
        t, box = _collect_in_thread(rt)
        _wait_for_start_pause(rt, n_before)
        b = a.f
        ll.test_store_ref_unbarriered(rt._c, a._h, 1, 0)
        t.join(30)
        # b was neither marked nor allocated black: the flip's verification (verify=True)
        # or the next collection's finds the handle pointing at garbage
        with pytest.raises(HeapCorruption):
            if "error" in box:
                raise box["error"]
            rt.gc()
            rt.verify()
        del b


def test_mark_stack_overflow_falls_back_to_the_bitmap():
    with gcheap.Runtime("32M", collector="cmc", require_concurrent=True, mark_stack_limit=16,
                        checks=("checkmark",), pacing=False) as rt:
        Node = rt.define_class("Node", refs=["l", "r"], scalars=["v"])
        # a wide tree: far more grey objects at once than 16 stack entries
        level = [rt.new(Node, v=0)]
        rt.globals["root"] = level[0]
        n = 1
        for _ in range(12):
            nxt = []
            for p in level:
                p.l = rt.new(Node, v=n)
                p.r = rt.new(Node, v=n + 1)
                n += 2
                nxt += [p.l, p.r]
            level = nxt
        del level, nxt
        rep = rt.gc()
        c = rep.cycle
        assert c["mark_stack_overflows"] > 0 and c["bitmap_rescans"] > 0
        assert c["marked_objects"] == n
        rt.verify()
        seen, stack = 0, [rt.globals["root"]]
        while stack:
            x = stack.pop()
            seen += 1
            stack += [y for y in (x.l, x.r) if y is not None]
        assert seen == n


CHAIN_BYTES = 800 * 200 * 24                  # 800 chains of 200 nodes: header, next, v


def _cut_chains_while_the_cycle_holds(remark_flush: bool):
    """While the cycle holds after its start pause (marking has not begun), a
    mutator cuts 800 chains of 200 objects from the only array that reaches them:
    the barrier logs their heads into its buffer, which stays partial (under 1022
    entries). Returns the cycle's record, then checks the next cycle frees them."""
    with gcheap.Runtime("64M", collector="cmc", require_concurrent=True, remark_budget_us=1, remark_attempts=4,
                        checks=("checkmark",), hold_after_start_ms=200, pacing=False,
                        remark_flush=remark_flush) as rt:
        Node = rt.define_class("Node", refs=["next"], scalars=["v"])
        arr = rt.new_array("ref", 1000)
        rt.globals["arr"] = arr
        for i in range(1000):
            chain = None
            for k in range(200):
                chain = rt.new(Node, next=chain, v=k)
            arr[i] = chain
        del chain
        n_before = len(ll.pauses(rt._c))
        t, box = _collect_in_thread(rt)
        _wait_for_start_pause(rt, n_before)
        for i in range(800):
            arr[i] = None                          # logged: unmarked when overwritten
        t.join(60)
        assert "report" in box, box
        c = box["report"].cycle
        pauses = {p["seq"]: p for p in ll.pauses(rt._c)}
        kinds = [pauses[s]["kind"] for s in c["pause_seq"]]
        assert c["failed"] == 0 and c["satb_entries"] >= 800 and c["floating_bytes"] >= CHAIN_BYTES, c
        # checkmark measures the floating garbage exactly: the chains, nothing else died
        assert c["floating_checked_bytes"] == CHAIN_BYTES, c
        assert kinds.count("remark") == c["remarks"] and kinds.count("catchup") == c["catchups"]
        live_before = rt.heap_info()["live"]
        rt.gc()
        assert rt.heap_info()["live"] < live_before - CHAIN_BYTES * 0.9
        assert all(arr[i] is None for i in range(800)) and arr[999].v == 199
        rt.verify()
        return c, kinds


def test_remark_over_budget_resumes_the_mutators():
    """remark_flush=False: the buffer reaches the remark, and tracing the chains
    there takes far more than the 1 us budget: the remark resumes the mutators,
    marking goes on, a later remark finishes. The chains survive this cycle as
    floating garbage, and the next cycle frees them."""
    c, kinds = _cut_chains_while_the_cycle_holds(remark_flush=False)
    assert c["remarks"] >= 2 and c["catchups"] == 0, c


def test_a_catchup_pause_hands_the_partial_buffers_to_the_marker():
    """The default remark_flush: before the remark a catch-up pause queues the
    mutator's partial buffer (800 entries), the marker traces the chains
    concurrently, and one remark finds nothing left to do."""
    c, kinds = _cut_chains_while_the_cycle_holds(remark_flush=True)
    assert c["remarks"] == 1 and c["catchups"] >= 1, c
    assert kinds.index("catchup") < kinds.index("remark")


def test_the_pacer_starts_cycles_before_the_heap_fills():
    with gcheap.Runtime(collector="cmc", require_concurrent=True) as rt:
        keep = rt.new_array("ref", 256)
        rt.globals["keep"] = keep
        for i in range(40000):
            a = rt.new_array("u8", 1000)
            if i % 100 == 0:
                keep[(i // 100) % 256] = a
        rt.wait_gc()
        causes = [ll.CAUSE_NAMES[c["cause"]] for c in rt.cycles()]
        assert "paced" in causes, causes
        assert all(c["failed"] == 0 for c in rt.cycles())
        rt.verify()
    with gcheap.Runtime(collector="cmc", require_concurrent=True, pacing=False) as rt:
        for i in range(40000):
            rt.new_array("u8", 1000)
        assert "paced" not in [ll.CAUSE_NAMES[c["cause"]] for c in rt.cycles()]
        assert rt.stats()["alloc_stalls"] > 0          # every cycle began with a full heap


def test_allocation_stalls_are_counted_and_timed_in_the_same_cycle():
    """Without pacing every cycle begins with an allocation that waits for it. Each
    stall is counted and timed in one cycle, when it ends: a cycle's count and its
    time are both zero or both not, and the cycles' counts add up to the runtime's
    (the count used to be taken when a stall began, its time when it ended: the
    stall that started a cycle fell out of every cycle's count)."""
    with gcheap.Runtime(collector="cmc", require_concurrent=True, pacing=False) as rt:
        for i in range(40000):
            rt.new_array("u8", 1000)
        rt.wait_gc()
        cycles = rt.cycles()
        total = rt.stats()["alloc_stalls"]
        assert total > 0 and sum(c["alloc_stalls"] for c in cycles) == total, (total, cycles)
        for c in cycles:
            assert (c["alloc_stalls"] > 0) == (c["alloc_stall_s"] > 0), c


def test_full_heap_after_a_concurrent_cycle_marks_in_the_pause():
    """Live data that fills the reservation: a concurrent cycle cannot free enough,
    the allocation that still fails gets a full collection marked in the pause
    (reported with cause "full"), and only then HeapExhausted."""
    with gcheap.Runtime("8M", collector="cmc", require_concurrent=True, pacing=False) as rt:
        keep = rt.new_array("ref", 10000)
        rt.globals["keep"] = keep
        with pytest.raises(gcheap.HeapExhausted):
            for i in range(10000):
                keep[i] = rt.new_array("u8", 1000)
        causes = [(ll.CAUSE_NAMES[c["cause"]], c["concurrent"]) for c in rt.cycles()]
        assert ("full", 0) in causes and ("allocation", 1) in causes, causes
        rt.verify()


def test_cycle_records_every_pause_and_phase():
    with gcheap.Runtime("64M", collector="cmc", require_concurrent=True, pacing=False) as rt:
        Node = rt.define_class("Node", refs=["next"], scalars=["v"])
        head = None
        for i in range(50000):
            head = rt.new(Node, next=head if i % 3 else None, v=i)
        rt.globals["head"] = head
        rep = rt.gc()
        c = rep.cycle
        pauses = {p["seq"]: p for p in ll.pauses(rt._c)}
        kinds = [pauses[s]["kind"] for s in c["pause_seq"]]
        assert kinds[0] == "start" and kinds[-1] == "flip" and "remark" in kinds
        assert set(kinds[1:-1]) <= {"remark", "catchup"} and kinds[-2] in ("remark", "catchup")
        assert c["npauses"] == len(kinds) and c["remarks"] + c["catchups"] == len(kinds) - 2
        assert kinds.count("catchup") == c["catchups"]
        assert c["floating_checked_bytes"] == -1                  # measured only with checkmark
        assert c["longest_pause_s"] == pytest.approx(max(pauses[s]["pause_ns"] for s in c["pause_seq"]) / 1e9)
        assert c["mark_s"] > 0 and c["prepare_s"] > 0 and c["compaction_s"] > 0 and c["gc_cpu_s"] > 0
        assert c["marked_bytes"] > 0 and c["live_bytes"] == rt.heap_info()["live"]
        assert c["start_s"] < c["flip_end_s"] <= c["end_s"]
