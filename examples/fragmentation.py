"""Fragmentation, in the gcheap Python subset.

Usage: fragmentation.py [MIB]   (payload bytes per size class, default 32 MiB)
For several object sizes: fill MIB MiB with objects, drop every other one, collect,
and report page utilisation (live bytes / bytes of occupied pages) and RSS before and
after collection. A compacting collector should bring utilisation near 100%.

Heap figures come from gc.heap_stats(), which gcheap provides and CPython does not:
under CPython the program prints only its deterministic lines. Lines that depend on
the implementation start with #heap (the differential tests ignore them, like #time).
"""
import gc
import sys


def heap_stats():
    try:
        return gc.heap_stats()
    except AttributeError:
        return None


def report(stats):
    # Page utilisation = live bytes / bytes of the pages they occupy: before the
    # collection the live objects are spread over everything allocated, after a
    # compacting collection they are packed at the start of the heap.
    if stats is None or stats["collections"] == 0:
        return
    live = stats["live_bytes"]
    before = 100.0 * live / max(1, stats["used_before"])
    after = 100.0 * live / max(1, stats["occupied_bytes"])
    print(f"#heap   live {live} bytes: utilisation {before:.1f}% of {stats['used_before']} used before, "
          f"{after:.1f}% of {stats['occupied_bytes']} after; rss {stats['rss_before']} -> {stats['rss_after']}")


def fill(count, words):
    objects = []
    for i in range(count):
        objects.append([i] * words)
    return objects


def main(mib):
    for words in [2, 8, 32, 128, 512]:
        count = mib * 1024 * 1024 // (words * 8)
        objects = fill(count, words)
        kept = []
        for i in range(0, len(objects), 2):
            kept.append(objects[i])
        objects = None
        print("size " + str(words * 8) + " bytes: kept " + str(len(kept)) + " of " + str(count))
        gc.collect()
        report(heap_stats())
        total = 0
        for obj in kept:
            total += obj[0]
        print("  checksum " + str(total))
        kept = None
        gc.collect()


if __name__ == "__main__":
    mib = 32
    if len(sys.argv) > 1:
        mib = int(sys.argv[1])
    if mib < 1:
        raise ValueError("MIB must be positive")
    main(mib)
