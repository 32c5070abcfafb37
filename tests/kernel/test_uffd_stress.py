"""A bounce test shaped like the kernel's selftests/mm/uffd-stress.c.

An anonymous area of N MiB is bounced K times between two mappings. In every
bounce the destination is emptied and registered; reader threads read random
pages (blocking in C on missing ones) and check each page they see, a Python
fault-serving thread resolves their faults with UFFDIO_COPY, and background
copier threads copy every page concurrently, so the two race and EEXIST is
exercised. After each bounce the whole destination is verified.

CI size: a few MiB, a few bounces (seconds). Larger: GCHEAP_STRESS_MIB=256
GCHEAP_STRESS_BOUNCES=16 (or GCHEAP_STRESS=1 for 128 MiB x 12).
"""
from __future__ import annotations

import os
import random
import threading

import numpy as np

from tests.support.uffd import require_uffd
from gcheap import _lowlevel as ll
from gcheap.errors import UffdPageExists
from gcheap.kernel import MADV_DONTNEED, PageFault, Region, Userfaultfd

PS = ll.page_size()
BIG = os.environ.get("GCHEAP_STRESS") == "1"
MIB = int(os.environ.get("GCHEAP_STRESS_MIB", "128" if BIG else "8"))
BOUNCES = int(os.environ.get("GCHEAP_STRESS_BOUNCES", "12" if BIG else "4"))
READERS, COPIERS = 2, 2
READS_PER_READER = 400


def stamp(region: Region, bounce: int) -> None:
    """Page i: first word i * 1000 + bounce, every other word i + 1."""
    words = region.numpy("u8").reshape(-1, PS // 8)
    idx = np.arange(words.shape[0], dtype=np.uint64)
    words[:, 1:] = (idx + 1)[:, None]
    words[:, 0] = idx * 1000 + bounce


def expected_page(i: int, bounce: int) -> bytes:
    return (i * 1000 + bounce).to_bytes(8, "little") + (i + 1).to_bytes(8, "little") * (PS // 8 - 1)


def test_bounce_stress():
    require_uffd()
    size = MIB << 20
    pages = size // PS
    a, b = Region(size, align=2 << 20), Region(size, align=2 << 20)
    faults_served = 0
    eexist = 0
    try:
        for bounce in range(BOUNCES):
            src, dst = (a, b) if bounce % 2 == 0 else (b, a)
            stamp(src, bounce)                   # content differs per bounce: stale pages fail
            with Userfaultfd() as uffd:
                uffd.register(dst)
                ll.madvise(dst.address, size, MADV_DONTNEED)    # register first, then empty
                stop = threading.Event()
                started = threading.Event()
                errors: list[str] = []
                counts = {"faults": 0, "eexist": 0}
                lock = threading.Lock()

                def copy_page(i: int) -> bool:
                    try:
                        uffd.copy(dst.address + i * PS, src.address + i * PS, PS)
                        return True
                    except UffdPageExists:       # the other side won the race: done, wake waiters
                        uffd.wake(dst.address + i * PS, PS)
                        with lock:
                            counts["eexist"] += 1
                        return False

                def server():
                    while not stop.is_set():
                        for ev in uffd.read_events(timeout=0.02):
                            assert isinstance(ev, PageFault)
                            if copy_page((ev.address - dst.address) // PS):
                                with lock:
                                    counts["faults"] += 1

                def reader(seed: int):
                    rng = random.Random(seed)
                    for n in range(READS_PER_READER):
                        i = rng.randrange(pages)
                        if dst.read(i * PS, PS) != expected_page(i, bounce):
                            errors.append(f"bounce {bounce}: page {i} wrong")
                        if n == 20:
                            started.set()

                def copier(part: int):
                    started.wait(5)
                    order = list(range(part, pages, COPIERS))
                    random.Random(part).shuffle(order)
                    for i in order:
                        copy_page(i)

                threads = [threading.Thread(target=server, daemon=True)]
                threads += [threading.Thread(target=reader, args=(bounce * 10 + r,), daemon=True)
                            for r in range(READERS)]
                threads += [threading.Thread(target=copier, args=(c,), daemon=True) for c in range(COPIERS)]
                for t in threads:
                    t.start()
                for t in threads[1:]:
                    t.join(60)
                stop.set()
                threads[0].join(5)
                assert not any(t.is_alive() for t in threads), "a thread is stuck"
                assert not errors, errors[:5]
                view = dst.numpy("u8").reshape(-1, PS // 8)
                idx = np.arange(pages, dtype=np.uint64)
                assert (view[:, 0] == idx * 1000 + bounce).all(), f"bounce {bounce}: first words differ"
                assert (view[:, 1:] == (idx + 1)[:, None]).all(), f"bounce {bounce}: page bodies differ"
                del view
                faults_served += counts["faults"]
                eexist += counts["eexist"]
        print(f"stress: {MIB} MiB x {BOUNCES} bounces, {faults_served} faults served by the handler, {eexist} EEXIST races")
        assert faults_served > 0, "readers never faulted: the fault path was not exercised"
    finally:
        a.close()
        b.close()
