"""collector="cmc" on the managed runtime: the runtime's own model-based and
threaded tests re-run in every mode, mutators working across the heap right
after gc(wait=False), the heap mapping and RSS after each cycle, the fault
injection matrix, fallback, and the range-theft experiment."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import rule

import gcheap
from gcheap import _lowlevel as ll
from gcheap.runtime import cmc as cmc_runtime
from gcheap.errors import AddressRangeStolen, InvalidOption, UffdUnavailable

from tests.support.cmc import build_fragmented
from tests.support.maps import assert_one_mapping, resident_bytes, rss_of
from tests.support.runtime_model import make_model_machine
from tests.support.threads import run_mutators_and_collector

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.uffd
STRESS = os.environ.get("GCHEAP_STRESS") == "1"
MODES = [dict(fault_mode=f, install=i, gc_threads=t)
         for f in ("sigbus", "thread") for i in ("copy", "move", "auto") for t in (1, 2)]
MODE_IDS = [f"{m['fault_mode']}-{m['install']}-{m['gc_threads']}" for m in MODES]
SETTINGS = settings(max_examples=60 if STRESS else 5, stateful_step_count=60 if STRESS else 30,
                    deadline=None, suppress_health_check=list(HealthCheck))


# ---- the runtime's model-based test, every mode; plus a gc(wait=False) rule ----------

def _machine(mode: dict):
    Base = make_model_machine({"collector": "cmc", "require_concurrent": True, **mode})

    class WithConcurrentGc(Base):
        @rule()
        def gc_without_waiting(self):
            # The next rules and invariants read and write the heap while it is compacted.
            self.rt.gc(wait=False)

    WithConcurrentGc.TestCase.settings = SETTINGS
    return WithConcurrentGc


for _m, _id in zip(MODES, MODE_IDS):
    globals()[f"TestModelCmc_{_id.replace('-', '_')}"] = _machine(_m).TestCase


# ---- the runtime's threaded tests, every mode ------------------------------------------

@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_threads_two_mutators_and_a_collector(mode):
    run_mutators_and_collector(2, 20000 if STRESS else 1500, collector="cmc", require_concurrent=True, **mode)


@pytest.mark.parametrize("mode", MODES[::3], ids=MODE_IDS[::3])
def test_threads_allocation_triggered_collections_small_heap(mode):
    st = run_mutators_and_collector(4, 10000 if STRESS else 800, heap="2M", collector="cmc", require_concurrent=True, **mode)
    assert "explicit" in {p.cause for p in st["pauses"]}


# ---- mutators across the heap right after gc(wait=False) ---------------------------------


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_mutators_build_pages_after_gc_without_waiting(mode):
    n = 6000
    with gcheap.Runtime("32M", collector="cmc", require_concurrent=True, worker_delay_us=20000, **mode) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, n)
        heap = rt.heap_info()["address"]
        for cycle in range(2):
            rep = rt.gc(wait=False)
            assert rep.concurrent and not rep.complete
            errors = []

            def reader_writer(part):
                try:
                    for i in range(part, n, 2):
                        nd = nodes[i]
                        if nd is not None:
                            assert nd.v == (i if cycle == 0 else i + 1) and nd.w == i / 7
                            nd.v = i + 1 if cycle == 0 else i
                    for i, a in arrays[part::2]:
                        assert a[9] == i * 1000 + 9
                        a[1] = cycle
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)
            ts = [threading.Thread(target=reader_writer, args=(k,)) for k in range(2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            done = rt.wait_gc()
            assert not errors, errors
            assert done.complete and done.concurrent and done.error is None
            assert done.pages_by_mutator > 0
            assert done.pages_by_gc + done.pages_by_mutator == -(-done.live_bytes // 4096)
            assert len(done.fault_stalls_s) > 0
            rt.verify()
            for i in range(1, n, 2):
                assert nodes[i].v == (i + 1 if cycle == 0 else i)
            m, count = head, 0
            while m is not None:                   # the list kept by head alone
                k = round(m.w * 7)
                assert m.v in (k, k + 1) and k % 3 == 0 and m.w == k / 7
                m, count = m.next, count + 1
            assert count == len(range(0, n, 3))
            assert all(a[1] == cycle and a[18] == i * 1000 + 18 for i, a in arrays)
            assert rt.heap_info()["address"] == heap
            assert_one_mapping(heap, rt.heap_info()["capacity"])


@pytest.mark.parametrize("marking", ["concurrent", "pause"])
def test_report_fields_and_rss_after_cycles(marking):
    with gcheap.Runtime("64M", collector="cmc", require_concurrent=True, marking=marking) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, 20000)
        info = rt.heap_info()
        for _ in range(3):
            rep = rt.gc()
            assert rep.collector == "cmc" and rep.concurrent and rep.complete and rep.marking == marking
            top = {"start", "catchup", "remark", "flip"} if marking == "concurrent" else {"mark", "flip"}
            assert set(rep.pauses) == top | {"flip.roots", "flip.mremap", "flip.register"} | \
                ({"flip.black"} if marking == "concurrent" else set())
            assert rep.pause_s == pytest.approx(sum(rep.pauses[k] for k in top))
            # one pause when marking is in it (split into mark and flip here)
            longest = rep.pause_s if marking == "pause" else max(rep.pauses[k] for k in top)
            assert rep.longest_pause_s == pytest.approx(longest)
            assert rep.pauses["flip"] >= rep.pauses["flip.mremap"] + rep.pauses["flip.register"]
            assert rep.cycle["concurrent"] == (marking == "concurrent") and rep.cycle["failed"] == 0
            assert rep.compaction_s > 0 and rep.peak_rss >= rep.process_rss_before > 0
            ops = ("move", "copy") if rep.install == "auto" else (rep.install,)
            assert sum(rep.ioctls[o] for o in ops) > 0 and rep.eexist == 0
            assert_one_mapping(info["address"], info["capacity"])
            # from-space is gone; the heap holds its live pages and the free ones below
            # the soft limit, made present for the mutators' allocation
            assert rss_of(info["address"], info["capacity"]) <= rt.heap_info()["soft_limit"] + (1 << 20)
        rt.verify()


def _wait_resident(start: int, length: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while resident_bytes(start, length) < length and time.monotonic() < deadline:
        time.sleep(0.01)
    return resident_bytes(start, length)


@pytest.mark.parametrize("marking", ["concurrent", "pause"])
def test_free_pages_are_made_present_by_a_gc_thread_ahead_of_allocation(marking):
    """After a flip the free pages are empty; once the cycle's pages are built, a GC
    worker populates 4 MiB ahead of the allocation frontier (csrc/cmc/prefault.c),
    following it (asked again each time the frontier passes the middle of the
    window), never beyond the soft limit or where the heap had reached before.
    (recycle_free=False: the fill would make the pages above the window present.)"""
    page, ahead = 4096, 4 << 20
    with gcheap.Runtime("64M", heap_initial="32M", collector="cmc", require_concurrent=True, marking=marking,
                        recycle_free=False) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, 40000)     # no collection yet
        base, reached = rt.heap_info()["address"], rt.heap_info()["used"]
        before = rt.stats()["cmc"]["prefault_pages"]
        rt.gc()
        info = rt.heap_info()
        built = max(-(-info["live"] // page), 1) * page       # the registered pages
        end = min(reached, info["soft_limit"]) // page * page  # as far as the heap had reached
        assert end - built > 3 * ahead                         # the case is not empty
        assert _wait_resident(base + built, ahead) == ahead    # the first window
        t = rt.stats()["cmc"]
        assert t["prefault_pages"] - before == ahead // page and t["prefault_s"] > 0
        assert resident_bytes(base + built + ahead, info["capacity"] - built - ahead) == 0
        # allocation moves the frontier past the window's middle, again and again (an
        # unaligned frontier once made the next chunk fail): the worker follows
        fresh = []
        for stop in (built + ahead, built + 2 * ahead + 12345):
            while rt.heap_info()["used"] < stop:
                fresh.append(rt.new(Node, v=-1))
            want = min(rt.heap_info()["used"] + ahead // 2, end) // page * page   # half a window ahead
            assert _wait_resident(base + built, want - built) == want - built
        assert resident_bytes(base + end, info["capacity"] - end) == 0      # never beyond
        assert all(n.next is None and n.w == 0.0 and n.v == -1 for n in fresh)
        rt.verify()


def test_workers_populate_nothing_ahead_of_allocation_while_a_cycle_marks():
    """While a concurrent cycle runs its marking (held here after its start pause),
    the GC workers do not populate the window ahead of the mutators' allocation (on
    two cores they would be a third runnable thread beside the marker and the
    program, and a pause waited 3.7 ms for a program waiting for a CPU); the program
    faults its pages in itself meanwhile, and the prefault resumes after the cycle."""
    page, ahead = 4096, 4 << 20
    with gcheap.Runtime("64M", heap_initial="32M", collector="cmc", require_concurrent=True, recycle_free=False,
                        pacing=False, hold_after_start_ms=1000) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, 40000)
        base = rt.heap_info()["address"]
        rt.gc()
        built = max(-(-rt.heap_info()["live"] // page), 1) * page
        assert _wait_resident(base + built, ahead) == ahead    # the first window, as usual
        box: dict = {}

        def collect():
            try:
                box["report"] = rt.gc()
            except BaseException as e:      # reported below
                box["error"] = e
        n_before = len(ll.pauses(rt._c))
        t = threading.Thread(target=collect)
        t.start()
        deadline = time.monotonic() + 10
        while not any(p["kind"] == "start" for p in ll.pauses(rt._c)[n_before:]):
            assert time.monotonic() < deadline, "no start pause"
            time.sleep(0.001)
        before = rt.stats()["cmc"]["prefault_pages"]
        fresh = []
        while rt.heap_info()["used"] < built + ahead + (256 << 10):   # past the first window
            fresh.extend(rt.new(Node, v=-1) for _ in range(1000))
        time.sleep(0.05)
        assert not box, box                                     # still marking (held)
        used = -(-rt.heap_info()["used"] // page) * page
        assert rt.stats()["cmc"]["prefault_pages"] == before
        assert resident_bytes(base + used + page, ahead - 2 * page) == 0
        t.join(30)
        assert "report" in box and box["report"].concurrent, box
        deadline = time.monotonic() + 5
        while rt.stats()["cmc"]["prefault_pages"] == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert rt.stats()["cmc"]["prefault_pages"] > before     # resumed after the cycle
        assert all(n.v == -1 for n in fresh)
        rt.verify()


@pytest.mark.parametrize("marking", ["concurrent", "pause"])
def test_garbage_from_space_pages_fill_the_free_pages_above_the_window(marking):
    """At a cycle's end the garbage from-space pages are moved, as they are, into the
    free pages from the prefault window's end up to where the heap had reached (below
    the soft limit) (csrc/cmc/recycle.c): present, nothing beyond, the heap one mapping
    again; the claims that take them zero them (every new object reads zero, and the
    runtime counts the bytes), and the next flip moves the heap."""
    page, ahead = 4096, 4 << 20
    with gcheap.Runtime("64M", heap_initial="32M", collector="cmc", require_concurrent=True,
                        marking=marking) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, 40000)     # no collection yet
        base, reached = rt.heap_info()["address"], rt.heap_info()["used"]
        rt.gc()
        info = rt.heap_info()
        built = max(-(-info["live"] // page), 1) * page
        end = min(reached, info["soft_limit"]) // page * page
        assert end - built > 3 * ahead                         # the case is not empty
        filled = rt.stats()["cmc"]["fill_pages"]
        assert filled == (end - built - ahead) // page and rt.stats()["cmc"]["fill_s"] > 0
        assert resident_bytes(base + built + ahead, end - built - ahead) == end - built - ahead
        assert resident_bytes(base + end, info["capacity"] - end) == 0
        assert_one_mapping(base, info["capacity"])
        # each from-space page went back once: released (only those present are
        # counted), built on (recycled) or moved into the free pages (filled)
        st = rt.stats()["cmc"]                                 # (the first cycle: its own)
        assert st["released_bytes"] // page + st["recycled_pages"] + filled <= -(-reached // page), st
        zeroed = rt.stats()["claim_zeroed_bytes"]
        fresh, blobs = [], []
        while rt.heap_info()["used"] < end:                    # allocate across the filled pages
            fresh.append(rt.new(Node, v=-1))
            if len(fresh) % 64 == 0:
                blobs.append(rt.new_array("u8", 3000))
        assert all(n.next is None and n.w == 0.0 and n.v == -1 for n in fresh)
        assert not any(b.to_numpy().any() for b in blobs)
        zeroed = rt.stats()["claim_zeroed_bytes"] - zeroed
        assert zeroed >= end - built - ahead - rt.heap_info()["tlab_bytes"]
        rt.verify()
        rep = rt.gc()                                          # the next flip moves one mapping
        assert rep.cycle["compacted"] and not rep.cycle["failed"]
        assert_one_mapping(base, info["capacity"])
        rt.verify()


@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
def test_a_mutator_faulting_inside_the_fill_range_gets_zero_pages(fault_mode):
    """fill_delay_us holds the fill with its range registered while a mutator thread
    allocates into it: its faults are served zero pages through the claim protocol
    (it fails when the SIGBUS handler passes them on), every object (old, and new in
    the range) is intact, and the heap is one mapping again."""
    with gcheap.Runtime("64M", heap_initial="64M", collector="cmc", require_concurrent=True, pacing=False,
                        fault_mode=fault_mode, fill_delay_us=1_000_000) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, 40000)
        rt.globals["keep"] = keep = rt.new_array("ref", 4096)
        err, made, allocated, per_attempt = [], {}, [0], []

        def mutator(stop):
            try:
                i = 0
                while not stop.is_set():
                    allocated[0] += 1
                    a = rt.new_array("u8", 4000)
                    assert not a.to_numpy().any()
                    a[0] = i & 0xFF
                    keep[i % 4096] = a
                    made[i % 4096] = i
                    i += 1
            except BaseException as e:      # noqa: BLE001 - reported below
                err.append(e)

        # The mutator must reach the fill range while it is registered. When it did
        # not (no zero page served: seen in full runs, not alone), the cycle runs
        # again; if it never does, see the end.
        for _attempt in range(4):
            while rt.heap_info()["used"] < (40 << 20):
                rt.new_array("u8", 4000)        # garbage: the fill range reaches 40 MiB
            before = len(ll.pauses(rt._c))
            rt.gc(wait=False)
            while not any(p["kind"] == "flip" for p in ll.pauses(rt._c)[before:]):
                time.sleep(0.001)               # allocate after the flip, from the built pages up
            stop = threading.Event()
            t = threading.Thread(target=mutator, args=(stop,))
            n0 = allocated[0]
            t.start()
            rep = rt.wait_gc()
            per_attempt.append(allocated[0] - n0)   # while the fill held its range
            stop.set()
            t.join()
            rt.wait_gc()                        # a cycle the mutator's allocation started
            assert not err, err
            assert rep.complete
            if rt.stats()["cmc"]["zero_pages"] > 0:
                break
        zero = rt.stats()["cmc"]["zero_pages"]
        why = (f"allocations per attempt while the fill held {per_attempt}, threads "
               f"{[t.name for t in threading.enumerate()]}, cmc {rt.stats()['cmc']}, heap {rt.heap_info()}")
        assert all(keep[k][0] == i & 0xFF for k, i in made.items())
        assert_one_mapping(rt.heap_info()["address"], rt.heap_info()["capacity"])
        rt.verify()
        rt.gc()
        assert all(keep[k][0] == i & 0xFF for k, i in made.items())
        rt.verify()
        if zero == 0 and max(per_attempt) < 12000:
            # 12000 arrays of 4000 bytes go well past the 40 MiB the fill range
            # reaches: fewer, and the mutator thread did not get there at all (seen
            # in full runs only, with a few hundred allocations a second: not
            # understood); what the test is for did not happen
            pytest.skip(f"the mutator thread never reached the fill range: {why}")
        assert zero > 0, why                                    # faults inside the registered range


def _src_first_scenario(install: str, recycle_free: bool) -> None:
    with gcheap.Runtime("32M", heap_initial="32M", collector="cmc", require_concurrent=True, pacing=False,
                        install=install, release_batch_pages=1, run_pages=1, recycle_free=recycle_free) as rt:
        Node = rt.define_class("Node", refs=["next"], scalars=["v"])
        n = 40000
        keep, model = rt.new_array("ref", n), []
        rt.globals["keep"] = keep
        for i in range(n):
            if i % 4000 == 0:
                big = rt.new_array("u8", 20000 + i)            # five pages and more
                big[0], big[len(big) - 1] = i & 0xFF, (i >> 8) & 0xFF
                keep[i] = big
                model.append((i, "big", len(big)))
            else:
                keep[i] = rt.new(Node, v=i)
                model.append((i, "node", i))
            if i % 16 == 0:
                rt.new(Node, v=-i)                             # dead
        while rt.heap_info()["used"] < (24 << 20):
            rt.new_array("u8", 60000)                          # dead, above it all: room for the fill
        for _ in range(2):
            rep = rt.gc()
            assert (rt.stats()["cmc"]["fill_pages"] > 0) == recycle_free
            assert rep.cycle["compacted"] and not rep.cycle["failed"]
            bad = []
            for i, kind, x in model:
                o = keep[i]
                ok = (len(o) == x and o[0] == i & 0xFF and o[x - 1] == (i >> 8) & 0xFF) if kind == "big" \
                    else (o.v == x and o.next is None)
                if not ok:
                    bad.append(i)
            assert not bad, f"{len(bad)} objects differ, first {bad[:5]}"
            rt.verify()


@pytest.mark.parametrize("install", ["copy", "move"])
@pytest.mark.parametrize("recycle_free", [False, True])
def test_from_space_is_released_and_recycled_only_once_read(install, recycle_free):
    """A GC thread releases (copy) or recycles as build buffers (move) each
    from-space page once no page left to build reads it: below src_first[p], the
    page the word landing at p's start comes from. The heap is mostly live (so
    the pages consumed run barely ahead of the pages built) with large objects
    spanning pages; the release batch and the run are one page. With src_first one
    page too high the builder read a released page and the cycle never ended (copy,
    no fill: with the fill the releaser holds those pages back and a move recycles
    the lowest consumed ones, so the other cases check the contents only), so the
    scenario runs in a child process with a deadline. Dead space above the live
    data gives the fill (recycle_free) a range, and the releaser its hold."""
    code = ("from tests.runtime.test_cmc import _src_first_scenario; "
            f"_src_first_scenario({install!r}, {recycle_free!r})")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]


def test_gc_wait_false_then_gc_waits_for_the_cycle():
    with gcheap.Runtime("16M", collector="cmc", require_concurrent=True, worker_delay_us=5000) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, 3000)
        rt.gc(wait=False)
        rep = rt.gc()                                # must first finish the running cycle
        assert rep.complete
        assert rt.wait_gc() is None
        rt.verify()


# ---- options, fallback ------------------------------------------------------------------

def test_bad_options():
    with pytest.raises(InvalidOption):
        gcheap.Runtime("4M", collector="stw", fault_mode="sigbus")
    with pytest.raises(InvalidOption):
        gcheap.Runtime("4M", collector="cmc", fault_mode="poll")
    with pytest.raises(InvalidOption):
        gcheap.Runtime("4M", collector="cmc", gc_threads=0)
    with pytest.raises(InvalidOption):
        gcheap.Runtime("4M", collector="cmc", bogus=1)
    with pytest.raises(InvalidOption):
        gcheap.Runtime("4M", collector="cmc", require_concurrent="yes")
    with gcheap.Runtime("4M", collector="cmc") as rt:
        with pytest.raises(InvalidOption):
            rt.gc(wait="no")


@pytest.mark.parametrize("point", ["reserve", "uffd", "thread"])
def test_fallback_to_stw_warns_once_or_raises(point):
    cmc_runtime._warned = False
    ll.cmc_inject_global(point, 1, errno.ENOSYS)
    try:
        with pytest.warns(RuntimeWarning, match="falls back to stop-the-world"):
            rt = gcheap.Runtime("8M", collector="cmc")
    finally:
        ll.cmc_clear_global_injection()
    with rt:
        assert not rt.concurrent
        Node, head, nodes, arrays = build_fragmented(rt, 2000)
        rep = rt.gc()
        assert rep.collector == "cmc" and not rep.concurrent and rep.error
        rt.verify()
        assert all(nodes[i].v == i for i in range(1, 2000, 2))
    ll.cmc_inject_global(point, 1, errno.ENOSYS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")        # warned once already: no second warning
            gcheap.Runtime("8M", collector="cmc").close()
    finally:
        ll.cmc_clear_global_injection()
    ll.cmc_inject_global(point, 1, errno.ENOSYS)
    try:
        with pytest.raises(UffdUnavailable):
            gcheap.Runtime("8M", collector="cmc", require_concurrent=True)
    finally:
        ll.cmc_clear_global_injection()


@pytest.mark.parametrize("point,err", [("uffd", errno.EPERM), ("uffd", errno.ENOSYS), ("reserve", errno.EINVAL)])
def test_default_collector_is_stw_with_the_reason_where_cmc_cannot_run(point, err, tmp_path):
    """Runtime() with no collector: cmc where the kernel allows it; where it does
    not, a plain stw runtime, silently, with the doctor's reason in
    collector_fallback. Passing a cmc option is asking for cmc: it warns."""
    from gcheap.interp import run_file
    with gcheap.Runtime("8M") as rt:
        assert rt.collector == "cmc" and rt.concurrent and rt.collector_fallback is None
    ll.cmc_inject_global(point, 1, err)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")          # no warning for the default
            rt = gcheap.Runtime("8M")
    finally:
        ll.cmc_clear_global_injection()
    with rt:
        assert rt.collector == "stw" and rt.options["collector"] == "stw" and not rt.concurrent
        assert rt.collector_fallback.endswith("(gcheap doctor)")
        assert cmc_runtime.unavailable_reason(err).reason in rt.collector_fallback
        Node, head, nodes, arrays = build_fragmented(rt, 2000)
        rep = rt.gc()
        assert rep.collector == "stw" and rt.cycles() == []
        rt.verify()
        assert all(nodes[i].v == i for i in range(1, 2000, 2))
    ll.cmc_inject_global(point, 1, err)
    try:
        prog = tmp_path / "p.py"
        prog.write_text("x = [[i] for i in range(1000)]\n")
        res = run_file(str(prog), check=True)
    finally:
        ll.cmc_clear_global_injection()
    assert res.collector == "stw" and cmc_runtime.unavailable_reason(err).reason in res.collector_fallback
    cmc_runtime._warned = False
    ll.cmc_inject_global(point, 1, err)
    try:
        with pytest.warns(RuntimeWarning, match="falls back to stop-the-world"):
            rt = gcheap.Runtime("8M", gc_threads=1)     # a cmc option: cmc was asked for
    finally:
        ll.cmc_clear_global_injection()
    with rt:
        assert rt.collector == "cmc" and not rt.concurrent and rt.collector_fallback is None


def test_a_dropped_runtime_is_freed_at_once():
    """No reference cycle keeps a runtime nobody holds: its GC threads, heap and
    SIGBUS range go when the last reference does, not at Python's next cyclic
    collection (runtimes dropped in a loop used to exhaust the dispatcher's ranges)."""
    import gc
    before = ll.sigbus_ranges()
    gc.disable()
    try:
        for _ in range(40):
            rt = gcheap.Runtime("4M", collector="cmc", require_concurrent=True)
            roots = rt.globals
            roots["a"] = rt.new_array("i64", 10)
            assert len(ll.sigbus_ranges()) == len(before) + 1
            del rt
            assert ll.sigbus_ranges() == before
        with pytest.raises(gcheap.RuntimeClosed):
            roots["a"] = None
    finally:
        gc.enable()


def test_when_every_fault_range_is_taken_the_default_is_stw_with_the_reason():
    """The dispatcher's ranges are few (GK_FAULT_SLOTS): past them a default runtime
    is stw and says why; naming cmc with require_concurrent raises the same reason."""
    rts = []
    try:
        while len(rts) < 64:
            rts.append(gcheap.Runtime("4M"))
            if rts[-1].collector == "stw":
                break
        last = rts[-1]
        assert last.collector == "stw" and all(r.concurrent for r in rts[:-1])
        assert "fault range" in last.collector_fallback and "close()" in last.collector_fallback
        with pytest.raises(UffdUnavailable, match="fault range"):
            gcheap.Runtime("4M", collector="cmc", require_concurrent=True)
        rts.pop().close()
        rts.pop().close()                       # a range free again: cmc again
        with gcheap.Runtime("4M") as rt:
            assert rt.collector == "cmc" and rt.concurrent
    finally:
        for r in rts:
            r.close()


# ---- fault injection during cycles ------------------------------------------------------

@pytest.mark.parametrize("point,flip", [("register", "dontunmap"), ("mremap", "dontunmap"),
                                        ("register", "remap"), ("mremap", "remap"),
                                        ("remap_mmap", "remap")])
def test_injected_flip_failure_falls_back_to_stw(point, flip):
    with gcheap.Runtime("16M", collector="cmc", require_concurrent=True, flip=flip) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, 4000)
        heap, cap = rt.heap_info()["address"], rt.heap_info()["capacity"]
        rt._cmc.inject(point, 1, errno.ENOMEM)
        rep = rt.gc()
        assert not rep.concurrent and rep.error and "ENOMEM" in rep.error
        rt.verify()
        assert all(nodes[i].v == i and nodes[i].w == i / 7 for i in range(1, 4000, 2))
        assert all(a[9] == i * 1000 + 9 for i, a in arrays)
        assert_one_mapping(heap, cap)
        rep = rt.gc()                       # and the next cycle is concurrent again
        assert rep.concurrent and rep.error is None
        rt.verify()


def test_injected_anchor_failure_leaves_one_mapping():
    """The flip's second mremap is its anchor (csrc/cmc/flip.c: a from-space page
    moved back above the old top, so that the heap's VMA shares from-space's
    anon_vma and whole chunks can go back by mremap). When it fails the cycle goes
    on without chunk moves, reports the error, and leaves the heap one mapping
    that the next flip moves."""
    with gcheap.Runtime("64M", heap_initial="32M", collector="cmc", require_concurrent=True) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, 40000)
        heap, cap = rt.heap_info()["address"], rt.heap_info()["capacity"]
        rt._cmc.inject("mremap", 2, errno.ENOMEM)
        rep = rt.gc()
        assert rep.concurrent and rep.error and "ENOMEM" in rep.error and "mremap" in rep.error
        assert rt.stats()["cmc"]["chunk_pages"] == 0               # none, page by page
        assert rt.stats()["cmc"]["fill_pages"] > 0
        rt.verify()
        assert all(nodes[i].v == i and nodes[i].w == i / 7 for i in range(1, 40000, 2))
        assert all(a[9] == i * 1000 + 9 for i, a in arrays)
        assert_one_mapping(heap, cap)
        for _ in range(40000):
            rt.new_array("u8", 300)         # garbage above the live data
        rep = rt.gc()
        assert rep.concurrent and rep.error is None
        assert rt.stats()["cmc"]["chunk_pages"] > 0                # the anchor held: chunks again
        rt.verify()
        assert_one_mapping(heap, cap)


@pytest.mark.parametrize("point", ["ioctl", "worker"])
@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
def test_injected_failure_during_compaction_is_recovered(point, fault_mode):
    # run_pages=32: this small heap then takes several GC installs, so the second
    # ioctl (the one that fails) is surely there
    with gcheap.Runtime("16M", collector="cmc", require_concurrent=True, fault_mode=fault_mode, run_pages=32) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, 4000)
        rt._cmc.inject(point, 2 if point == "ioctl" else 1, errno.EIO)
        rt.gc(wait=False)
        assert all(nodes[i].v == i for i in range(1, 4000, 2))      # mutators fault meanwhile
        rep = rt.wait_gc()
        assert rep.concurrent and rep.error and point in rep.error
        assert (rep.ioctl_errors if point == "ioctl" else rep.worker_failures) == 1
        rt.verify()
        assert all(a[9] == i * 1000 + 9 for i, a in arrays)
        assert_one_mapping(rt.heap_info()["address"], rt.heap_info()["capacity"])


# ---- the range-theft experiment on the runtime -----------------------------------------

def _collect_under_hammer(flip: str, seconds: float, enough: int = 1 << 30, **opts):
    with gcheap.Runtime("2M", collector="cmc", require_concurrent=True, flip=flip, **opts) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, 300)
        heap = rt.heap_info()["address"]
        stop = ll.ffi.new("int *", 0)
        stolen = []
        t = threading.Thread(target=lambda: stolen.append(ll.cmc_test_hammer(heap, seconds + 5, stop)))
        t.start()
        thefts = cycles = 0
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end and thefts < enough:
                cycles += 1
                try:
                    rt.gc()
                except AddressRangeStolen:
                    thefts += 1
                assert nodes[1].v == 1 and nodes[299].v == 299
        finally:
            stop[0] = 1
            t.join()
        rt.verify()
        assert all(nodes[i].v == i for i in range(1, 300, 2))
        assert_one_mapping(heap, rt.heap_info()["capacity"])
        return cycles, thefts, stolen[0]


def test_range_theft_experiment_on_the_runtime():
    # the window held open 2 ms: the hammer wins it whatever the machine's load
    cycles, thefts, stolen = _collect_under_hammer("remap", 15.0, enough=3, remap_gap_us=2000)
    assert thefts > 0 and stolen >= thefts, (cycles, thefts, stolen)
    cycles, thefts, stolen = _collect_under_hammer("dontunmap", 1.0)
    assert cycles > 10 and thefts == 0 and stolen == 0


def test_stats_cmc_totals_sum_the_cycle_reports():
    with gcheap.Runtime("16M", collector="cmc", require_concurrent=True, worker_delay_us=20000) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, 3000)
        assert rt.stats()["cmc"]["cycles"] == 0
        reps = []
        for _ in range(3):
            rt.gc(wait=False)
            assert all(nodes[i].v == i for i in range(1, 3000, 2))      # mutators fault pages
            reps.append(rt.wait_gc())
        t = rt.stats()["cmc"]
        assert t["cycles"] == 3
        for k in ("pages_by_gc", "pages_by_mutator", "zero_pages", "released_bytes"):
            assert t[k] == sum(getattr(r, k) for r in reps), k
        assert t["pages_by_mutator"] > 0
        assert t["pages_by_gc"] + t["pages_by_mutator"] == sum(-(-r.live_bytes // 4096) for r in reps)
        assert t["compaction_s"] == pytest.approx(sum(r.compaction_s for r in reps))
    with gcheap.Runtime("4M", collector="stw") as rt:
        assert "cmc" not in rt.stats()


@pytest.mark.uffd("move")
def test_install_auto_times_both_installs():
    """install="auto" (the default): a GC thread times a copy before it trusts a
    move (its first move, timed against no copy yet, starts 8 runs of copies; the
    runs it builds before the caller waits in gc() copy because a mutator may run),
    then moves while moving stays cheaper. Both show in one cycle of a large enough
    heap, and the heap comes out whole."""
    with gcheap.Runtime("64M", heap_initial="64M", collector="cmc", require_concurrent=True,
                        pacing=False) as rt:
        assert rt._cmc.options.machinery.install == "auto"
        from gcheap.bench.api_workloads import build_half_live
        n = build_half_live(rt, 64 << 20)          # ~7000 live pages of 1 KiB arrays
        rep = rt.gc()
        assert rep.install == "auto" and rep.error is None
        assert rep.ioctls["move"] > 0 and rep.auto_copy_pages >= 128 and rep.ioctls["copy"] >= 1
        rt.verify()
        holder = rt.globals["holder"]
        assert all(holder[i // 2][0] == i & 0xFF for i in range(0, n, 2 * 97))


@pytest.mark.uffd("move")
def test_install_auto_copies_while_a_mutator_runs():
    """install="auto": while a mutator may run (a thread holds a mutator slot and is
    not waiting for the collection), GC threads copy: UFFDIO_MOVE shoots down the TLB
    of every CPU running the process, which costs the running mutator where the
    mover's own timing cannot see it. Whole chunks still go by mremap. The same heap
    collected with the caller waiting moves."""
    with gcheap.Runtime("64M", heap_initial="64M", collector="cmc", require_concurrent=True,
                        pacing=False) as rt:
        from gcheap.bench.api_workloads import build_half_live
        for attempt in range(5):
            if attempt:
                rt.globals["holder"] = None
                rt.gc()
            n = build_half_live(rt, 64 << 20)
            rt.gc(wait=False)
            holder = rt.globals["holder"]
            # a thread that holds no mutator slot, waiting for the cycle, counts for nothing
            waiter = threading.Thread(target=ll.gr_cmc_wait_rc, args=(rt._c, -1))
            waiter.start()
            seen = 0
            while ll.gr_cmc_active(rt._c):         # this thread runs all through compaction
                seen += holder[seen % (n // 2)][0] >= 0
            waiter.join(30)
            rep = rt.wait_gc()
            assert rep.error is None
            if seen > 0:
                break       # else the cycle ended before this thread looked (a loaded machine): anew
        assert seen > 0
        assert rep.ioctls["move"] == 0, rep.ioctls
        assert rep.auto_copy_pages > 0 and rep.ioctls["copy"] > 0
        rt.verify()
        assert all(holder[i // 2][0] == i & 0xFF for i in range(0, n, 2 * 97))
        rt.globals["holder"] = None
        rt.gc()
        n = build_half_live(rt, 64 << 20)
        rep = rt.gc()                               # the caller waits: moves
        assert rep.error is None and rep.ioctls["move"] > 0, rep.ioctls


@pytest.mark.uffd
def test_bitmaps_populated_before_marking_follow_use_not_the_soft_limit():
    """The mark bitmaps' pages are populated before each cycle (no copy-on-write fault
    on a black allocation's first write); for twice the heap in use, not for a large
    soft limit: a 4 GiB heap_initial holding ~5 MiB must not gain the 128 MiB of
    bitmaps its soft limit would take."""
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    with gcheap.Runtime(heap_size="4G", heap_initial="4G", collector="cmc", require_concurrent=True,
                        pacing=False) as rt:
        Node = rt.define_class("Node", refs=["next"], scalars=["v"])
        keep = rt.new_array("ref", 100000)
        rt.globals["keep"] = keep
        for i in range(100000):
            keep[i] = rt.new(Node, v=i)
        before = rss()
        rt.gc()
        assert rss() - before < 32 << 20, (before, rss())
        assert keep[99999].v == 99999
