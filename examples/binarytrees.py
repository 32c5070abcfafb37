"""binary-trees (Benchmarks Game), in the gcheap Python subset.

Usage: binarytrees.py [N] [--units]   (max depth, default 10; the benchmark runs N = 16..21)
Allocation-heavy: every tree is built bottom-up and dropped right away, while one
long-lived tree of depth N stays reachable the whole run.
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
    __slots__ = ("left", "right")

    def __init__(self, left, right):
        self.left = left
        self.right = right


def make_tree(depth):
    if depth <= 0:
        return Node(None, None)
    depth -= 1
    return Node(make_tree(depth), make_tree(depth))


def check(node):
    if node.left is None:
        return 1
    return 1 + check(node.left) + check(node.right)


def main(n):
    min_depth = 4
    max_depth = max(min_depth + 2, n)
    stretch_depth = max_depth + 1
    print("stretch tree of depth " + str(stretch_depth) + " check: " + str(check(make_tree(stretch_depth))))
    long_lived = make_tree(max_depth)
    depth = min_depth
    while depth <= max_depth:
        iterations = 2 ** (max_depth - depth + min_depth)
        total = 0
        batch = max(1, 4096 // (2 ** (depth + 1)))  # trees per unit of work (about 4096 nodes)
        for i in range(iterations):
            if i % batch == 0:
                UNITS.start()
            total += check(make_tree(depth))
            if i % batch == batch - 1 or i == iterations - 1:
                UNITS.end()
        print(str(iterations) + " trees of depth " + str(depth) + " check: " + str(total))
        depth += 2
    print("long lived tree of depth " + str(max_depth) + " check: " + str(check(long_lived)))
    UNITS.report()


if __name__ == "__main__":
    n = 10
    if len(UNITS.args) > 0:
        n = int(UNITS.args[0])
    main(n)
