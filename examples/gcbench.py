"""GCBench (Ellis, Kovac, Boehm), in the gcheap Python subset.

Usage: gcbench.py [SHIFT] [--units]
SHIFT = 0 (default) runs the original constants: stretch depth 18, long-lived depth 16,
array of 500000 floats, tree depths 4, 6, ..., 16 ("should be run in a 32 MB heap").
SHIFT > 0 shrinks every depth by SHIFT and the array by 2**SHIFT, for tests.
Lines that depend on time start with #time.
"""
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


class Node:
    __slots__ = ("left", "right", "i", "j")

    def __init__(self, left=None, right=None):
        self.left = left
        self.right = right
        self.i = 0
        self.j = 0


def tree_size(i):
    # Nodes in a complete binary tree of depth i.
    return (1 << (i + 1)) - 1


def num_iters(i, stretch_depth):
    # Every depth allocates about the same volume.
    return 2 * tree_size(stretch_depth) // tree_size(i)


def populate(depth, node):
    # Top-down: stores young objects into an older one.
    if depth <= 0:
        return
    depth -= 1
    node.left = Node()
    node.right = Node()
    populate(depth, node.left)
    populate(depth, node.right)


def make_tree(depth):
    # Bottom-up.
    if depth <= 0:
        return Node()
    return Node(make_tree(depth - 1), make_tree(depth - 1))


def count(node):
    if node is None:
        return 0
    return 1 + count(node.left) + count(node.right)


def ms(t0, t1):
    return int((t1 - t0) * 1000)


def time_construction(depth, stretch_depth):
    iters = num_iters(depth, stretch_depth)
    batch = max(1, 4096 // tree_size(depth))  # trees per unit of work (about 4096 nodes)
    print("Creating " + str(iters) + " trees of depth " + str(depth))
    t0 = time.perf_counter()
    for i in range(iters):
        if i % batch == 0:
            UNITS.start()
        temp = Node()
        populate(depth, temp)
        temp = None
        if i % batch == batch - 1 or i == iters - 1:
            UNITS.end()
    t1 = time.perf_counter()
    print("#time \tTop down construction took " + str(ms(t0, t1)) + " msec")
    t0 = time.perf_counter()
    for i in range(iters):
        if i % batch == 0:
            UNITS.start()
        temp = make_tree(depth)
        temp = None
        if i % batch == batch - 1 or i == iters - 1:
            UNITS.end()
    t1 = time.perf_counter()
    print("#time \tBottom up construction took " + str(ms(t0, t1)) + " msec")


def main(shift):
    stretch_depth = 18 - shift
    long_lived_depth = 16 - shift
    array_size = 500000 >> shift
    min_depth = 4
    max_depth = max(min_depth, 16 - shift)

    print("Garbage Collector Test")
    print(" Stretching memory with a binary tree of depth " + str(stretch_depth))
    t_start = time.perf_counter()
    temp = make_tree(stretch_depth)
    print(" Stretch tree nodes: " + str(count(temp)))
    temp = None

    print(" Creating a long-lived binary tree of depth " + str(long_lived_depth))
    long_lived = Node()
    populate(long_lived_depth, long_lived)

    print(" Creating a long-lived array of " + str(array_size) + " doubles")
    array = [0.0] * array_size
    for i in range(1, array_size // 2):
        array[i] = 1.0 / i

    depth = min_depth
    while depth <= max_depth:
        time_construction(depth, stretch_depth)
        depth += 2

    if long_lived is None or array[1000 >> shift] != 1.0 / (1000 >> shift):
        print("Failed")
    else:
        print(" Long-lived tree nodes: " + str(count(long_lived)))
        print(" array[" + str(1000 >> shift) + "] = " + str(array[1000 >> shift]))
    t_end = time.perf_counter()
    print("#time Completed in " + str(ms(t_start, t_end)) + " msec")
    UNITS.report()


if __name__ == "__main__":
    shift = 0
    if len(UNITS.args) > 0:
        shift = int(UNITS.args[0])
    if shift < 0 or shift > 9:
        raise ValueError("SHIFT must be between 0 and 9")
    main(shift)
