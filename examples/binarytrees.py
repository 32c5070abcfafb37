"""binary-trees (Benchmarks Game), in the gcheap Python subset.

Usage: binarytrees.py [N]   (max depth, default 10; the benchmark runs N = 16..21)
Allocation-heavy: every tree is built bottom-up and dropped right away, while one
long-lived tree of depth N stays reachable the whole run.
"""
import sys


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
        for i in range(iterations):
            total += check(make_tree(depth))
        print(str(iterations) + " trees of depth " + str(depth) + " check: " + str(total))
        depth += 2
    print("long lived tree of depth " + str(max_depth) + " check: " + str(check(long_lived)))


if __name__ == "__main__":
    n = 10
    if len(sys.argv) > 1:
        n = int(sys.argv[1])
    main(n)
