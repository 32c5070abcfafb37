"""stw and cmc side by side on the same heap (`make demo` runs it after demo.py).

Builds the same half-live, fragmented heap twice - once with the stop-the-world
compactor, once with the concurrent one - collects, and prints both reports.
With cmc the mutator keeps reading the heap right after the flip while pages
are compacted underneath it (by the GC thread, or by the mutator's own faults).
"""
from __future__ import annotations

import time
import warnings

import gcheap

HEAP = "128M"
N = 60_000


def build(rt):
    Node = rt.define_class("Node", refs=["payload"], scalars=["value"])
    keep = rt.new_array("ref", N // 2)
    rt.globals["keep"] = keep
    for i in range(N):
        n = rt.new(Node, value=i, payload=rt.new_array("u8", 1000))
        if i % 2 == 0:                           # every other one stays live: fragmentation
            keep[i // 2] = n
    return keep


def checksum(keep) -> int:
    # from the top down: the GC thread compacts bottom-up, so the mutator meets
    # pages nobody has built yet and builds them itself on its faults
    return sum(keep[i].value + keep[i].payload[999] for i in reversed(range(len(keep))))


def main() -> None:
    expected = sum(range(0, N, 2))
    with gcheap.Runtime(HEAP, collector="stw") as rt:
        keep = build(rt)
        stw = rt.gc()
        assert checksum(keep) == expected
        rt.verify()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rt = gcheap.Runtime(HEAP, collector="cmc")
    for w in caught:
        print(f"warning: {w.message}")
    with rt:
        keep = build(rt)
        t0 = time.perf_counter()
        flip = rt.gc(wait=False)                 # returns after the flip pause
        t1 = time.perf_counter()
        assert checksum(keep) == expected       # the mutator runs during compaction
        done = rt.wait_gc() or flip
        rt.verify()
    print(f"same heap ({HEAP}, {N} objects + garbage), collected by both compactors:\n")
    print(f"  stw: pause {stw.pause_s * 1e3:8.3f} ms (the whole compaction)   live {stw.live_bytes >> 10} KiB")
    if done.concurrent:
        # the cycle's pauses: start, remark and flip (with concurrent marking, the
        # default), or mark and flip (marking="pause"); flip.* are the flip's parts
        parts = " + ".join(f"{k} {v * 1e3:.3f}" for k, v in done.pauses.items() if "." not in k)
        print(f"  cmc: pauses {done.pause_s * 1e3:8.3f} ms in all = {parts} (longest "
              f"{done.longest_pause_s * 1e3:.3f}; flip: mremap {done.pauses['flip.mremap'] * 1e3:.3f}, "
              f"register {done.pauses['flip.register'] * 1e3:.3f}, roots {done.pauses['flip.roots'] * 1e3:.3f})")
        print(f"       gc(wait=False) returned after the flip, {(t1 - t0) * 1e3:.3f} ms (concurrent marking "
              f"included, the mutator free to run meanwhile); compaction went on for "
              f"{done.compaction_s * 1e3:.2f} ms while the mutator read the heap")
        print(f"       pages built by the GC thread {done.pages_by_gc}, by the mutator's faults "
              f"{done.pages_by_mutator}; peak RSS {done.peak_rss >> 20} MiB vs {done.process_rss_before >> 20} "
              f"MiB before")
        print(f"\n  cmc's longest pause is {stw.pause_s / done.longest_pause_s:.0f}x shorter than the stw pause "
              f"({done.marking} marking)")
    else:
        print(f"  cmc: fell back to stop-the-world ({done.error}); pause {done.pause_s * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
