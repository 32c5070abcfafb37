"""Mutator threads racing a collector on a real runtime (the threaded tests of
every collector and mode)."""
from __future__ import annotations

import threading
import time

import gcheap


def run_mutators_and_collector(nthreads: int, rounds: int, heap: str = "8M", **runtime_kwargs):
    with gcheap.Runtime(heap_size=heap, **runtime_kwargs) as rt:
        Node = rt.define_class("Node", refs=["next", "other"], scalars=["owner", "seq"])
        shared = rt.new_array("ref", nthreads * 8)
        rt.globals["shared"] = shared
        errors: list[BaseException] = []
        stop = threading.Event()
        heads = [None] * nthreads
        lengths = [0] * nthreads

        def mutator(t: int):
            try:
                head = None
                for r in range(rounds):
                    if r and r % (rounds // 4) == 0:
                        # however fast the mutators run, collections overlap their work:
                        # at each quarter, wait for the collector to have completed one more
                        deadline = time.monotonic() + 60
                        while rt.stats()["collections"] < r // (rounds // 4):
                            assert time.monotonic() < deadline, "the collector made no progress"
                            time.sleep(0.0005)
                    n = rt.new(Node, owner=t, seq=r)
                    n.next = head
                    head = n
                    lengths[t] += 1
                    rt.new_array("u8", 200)          # garbage
                    rt.new_str(f"garbage {t} {r}")
                    slot = t * 8 + r % 8
                    shared[slot] = n                 # a shared object, own slots
                    if r % 50 == 49:                 # cut the list: more garbage
                        keep, m = 10, head
                        for i in range(keep - 1):
                            if i >= keep - 2:
                                m.other = None   # would point past the cut
                            m = m.next
                        m.other = None
                        m.next = None
                        lengths[t] = keep
                    if head.next is not None:
                        head.other = head.next.next
                        assert head.next.owner == t and head.next.seq == r - 1
                heads[t] = head
            except BaseException as e:  # noqa: BLE001 - reported by the test
                errors.append(e)

        def collector():
            try:
                while not stop.is_set():
                    rt.gc()
                    time.sleep(0.0005)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        c = threading.Thread(target=collector)
        ms = [threading.Thread(target=mutator, args=(t,)) for t in range(nthreads)]
        c.start()
        for m in ms:
            m.start()
        for m in ms:
            m.join(timeout=120)
        stop.set()
        c.join(timeout=60)
        assert not c.is_alive() and not any(m.is_alive() for m in ms), "deadlock"
        assert not errors, errors
        st = dict(rt.stats(), cycle_log=rt.cycles())
        assert st["collections"] >= 3
        rt.verify()
        rep = rt.gc()
        # exactly the lists and the shared array are live: nothing leaked, nothing lost
        assert rep.live_bytes == 40 * sum(lengths) + 8 + 8 * nthreads * 8
        for t in range(nthreads):
            n, seq, count = heads[t], rounds - 1, 0
            while n is not None:
                assert n.owner == t and n.seq == seq
                n, seq, count = n.next, seq - 1, count + 1
            assert count == lengths[t]
            for k in range(8):
                e = shared[t * 8 + k]
                assert e.owner == t and e.seq % 8 == k
        rt.verify()
        return st
