"""Fragmentation, in the gcheap Python subset.

Usage: fragmentation.py [MIB] [--units]   (payload bytes per size class, default 32 MiB)
For several object sizes: fill MIB MiB with objects, drop every other one, collect,
and report page utilisation (live bytes / bytes of occupied pages) and RSS before and
after collection. A compacting collector should bring utilisation near 100%.

Heap figures come from gc.heap_stats(), which gcheap provides and CPython does not:
under CPython the program prints only its deterministic lines. Lines that depend on
the implementation start with #heap (the differential tests ignore them, like #time).
"""
import gc
import sys
import time


class Units:
    """Units of work for `gcheap bench` (latency): with --units as the last
    argument, each unit's start and end (time.perf_counter()) are printed at
    exit as "#time unit START END"; without it nothing is recorded."""
    __slots__ = ("on", "args", "starts", "ends")

    def __init__(self, argv):
        self.args = argv[1:len(argv)]
        self.on = len(self.args) > 0 and self.args[len(self.args) - 1] == "--units"
        if self.on:
            self.args = self.args[0:len(self.args) - 1]
        self.starts = []
        self.ends = []

    def start(self):
        if self.on:
            self.starts.append(time.perf_counter())

    def end(self):
        if self.on:
            self.ends.append(time.perf_counter())

    def report(self):
        if self.on:
            for i in range(len(self.ends)):
                print(f"#time unit {self.starts[i]:.9f} {self.ends[i]:.9f}")


UNITS = Units(sys.argv)


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
        if i % 1024 == 0:
            UNITS.start()  # a unit of work: 1024 objects
        objects.append([i] * words)
        if i % 1024 == 1023 or i == count - 1:
            UNITS.end()
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
    UNITS.report()


if __name__ == "__main__":
    mib = 32
    if len(UNITS.args) > 0:
        mib = int(UNITS.args[0])
    if mib < 1:
        raise ValueError("MIB must be positive")
    main(mib)
