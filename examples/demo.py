"""The move at the heart of gcheap's concurrent compactor, shown on one Region.

1. A "heap" Region holds 16 pages of data.
2. A userfaultfd is registered on it, then mremap(MREMAP_DONTUNMAP) moves every
   page to a "from-space" Region in one call: the heap stays mapped but empty.
3. A mutator thread reads heap pages. Each read of a missing page blocks in the
   kernel; a fault-serving thread receives the fault and copies the page back
   from from-space with UFFDIO_COPY, which wakes the mutator.
4. The same again in SIGBUS mode: the mutator's own thread takes a SIGBUS and
   resolves the page in a C signal handler, with no second thread involved.
"""
from __future__ import annotations

import threading
import time

from gcheap.kernel import (PageFault, Region, SigbusService, Userfaultfd, mremap_dontunmap,
                           probe)

PAGES = 16


def page_text(i: int) -> bytes:
    return f"object data on page {i:2d}".encode()


def main() -> int:
    caps = probe()
    if not caps.concurrent_compaction:
        print(f"cannot run here: {caps.remedy}")
        return 2
    ps = caps.page_size
    t0 = time.perf_counter()
    out = threading.Lock()

    def log(msg: str) -> None:
        with out:
            print(f"[{(time.perf_counter() - t0) * 1e3:7.2f} ms] {msg}", flush=True)

    heap = Region(PAGES * ps)
    for i in range(PAGES):
        heap.write(i * ps, page_text(i))
    log(f"heap at {heap.address:#x}: {PAGES} pages written")

    uffd = Userfaultfd(["thread_id"])
    uffd.register(heap)
    from_space = mremap_dontunmap(heap)
    log(f"mremap DONTUNMAP: pages moved to from-space at {from_space.address:#x}; "
        f"the heap is still mapped and empty")

    served: list[int] = []
    stop = threading.Event()

    def serve_faults() -> None:
        while not stop.is_set():
            for ev in uffd.read_events(timeout=0.05):
                if isinstance(ev, PageFault):
                    page = (ev.address - heap.address) // ps
                    log(f"  server: thread {ev.thread_id} is blocked on page {page}; copying it back")
                    uffd.copy(heap.address + page * ps, from_space.address + page * ps, ps)
                    served.append(page)

    server = threading.Thread(target=serve_faults, name="fault-server")
    server.start()

    order = [5, 0, 11, 5, 3]
    def mutator() -> None:
        for i in order:
            got = heap.read(i * ps, len(page_text(i)))
            log(f"  mutator (thread {threading.get_native_id()}) read page {i}: {got.decode()!r}")
    m = threading.Thread(target=mutator, name="mutator")
    m.start()
    m.join()
    stop.set()
    server.join()
    log(f"{len(served)} faults served for {len(order)} reads (page 5 twice: the second read hit "
        f"a present page); {PAGES - len(set(served))} pages still in from-space")
    uffd.close()
    heap.close()
    from_space.close()

    # ---- SIGBUS mode: the faulting thread serves itself
    heap = Region(PAGES * ps)
    for i in range(PAGES):
        heap.write(i * ps, page_text(i))
    with Userfaultfd(["sigbus"]) as uffd:
        uffd.register(heap)
        from_space = mremap_dontunmap(heap)
        log("SIGBUS mode: heap moved to from-space again")
        with SigbusService(uffd, heap, source=from_space.address, how="copy") as service:
            texts = [heap.read(i * ps, len(page_text(i))) for i in range(PAGES)]
            st = service.stats()
        assert texts == [page_text(i) for i in range(PAGES)]
        log(f"  main thread read all {PAGES} pages; its SIGBUS handler resolved {st['served']} faults "
            f"(last in thread {st['last_tid']}, this is {threading.get_native_id()})")
    heap.close()
    from_space.close()
    log("done: every page came back with its content")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
