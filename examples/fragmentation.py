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


def report(label, stats):
    if stats is None:
        return
    util = 0.0
    if stats["occupied_bytes"] > 0:
        util = 100.0 * stats["live_bytes"] / stats["occupied_bytes"]
    print(f"#heap   {label}: utilisation {util:.1f}% live {stats['live_bytes']} occupied {stats['occupied_bytes']} rss {stats['rss_bytes']}")


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
        report("before collection", heap_stats())
        gc.collect()
        report("after collection ", heap_stats())
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
