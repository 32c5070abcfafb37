"""Several mutator threads mutating while another thread collects."""
import os
import threading

import gcheap
from tests.support.threads import run_mutators_and_collector

STRESS = os.environ.get("GCHEAP_STRESS") == "1"


def test_two_mutators_while_a_third_thread_collects():
    run_mutators_and_collector(2, 6000 if not STRESS else 60000)


def test_four_mutators_small_heap_allocation_triggered_collections():
    st = run_mutators_and_collector(4, 2000 if not STRESS else 20000, heap="2M")
    causes = {p.cause for p in st["pauses"]}
    assert "explicit" in causes


def test_mutator_threads_come_and_go():
    with gcheap.Runtime(heap_size="4M") as rt:
        Node = rt.define_class("Node", scalars=["v"])
        keep = []
        lock = threading.Lock()

        def work(i):
            n = rt.new(Node, v=i)
            with lock:
                keep.append(n)

        for wave in range(20):  # 400 threads > 256 mutator slots: slots are reused
            ts = [threading.Thread(target=work, args=(wave * 20 + i,)) for i in range(20)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            rt.gc()
        assert sorted(n.v for n in keep) == list(range(400))
        assert rt.stats()["mutators"] <= 21


def test_long_copies_poll_for_pauses_and_survive_moves():
    """to_numpy()/str() of multi-MiB objects copy in steps and poll for a pause in
    between; the object may move during the copy and the copy stays exact."""
    import numpy as np
    with gcheap.Runtime(heap_size="64M") as rt:
        expect = np.arange(1_500_000, dtype=np.float64) * 0.5
        stop = threading.Event()
        errors = []

        def churn_and_collect():
            try:
                while not stop.is_set():
                    rt.new_array("u8", 100_000)   # garbage below the big objects
                    rt.gc()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        c = threading.Thread(target=churn_and_collect)
        c.start()
        try:
            for round_ in range(6):
                _ = rt.new_array("u8", 300_000)   # garbage, so the array moves
                a = rt.new_array("f64", len(expect))
                for i in range(0, len(expect), 150_000):
                    a[i] = float(expect[i])
                text = "ü" * 1_500_000
                s = rt.new_str(text)
                for _ in range(3):
                    got = a.to_numpy()
                    assert np.array_equal(got[::150_000], expect[::150_000])
                    assert str(s) == text
        finally:
            stop.set()
            c.join(timeout=60)
        assert not errors, errors
        assert rt.stats()["collections"] >= 3
        rt.verify()
