"""Splay (Octane), in the gcheap Python subset: a latency benchmark.

Usage: splay.py [RUNS] [TREE_SIZE] [--units]   (defaults 50 runs, 8000 nodes as in Octane)
A splay tree keyed by random numbers; each node's value is a payload tree of depth 5
whose leaves are {"array": [0..9], "string": "String for key K in leaf node"}.
Each run does 80 modifications: insert a new random key with a fresh payload, find
the greatest key less than it, remove that node (or the new key if none).
The clock is sampled after every run and every 20 inserts during setup; a pause is
the time between consecutive samples; the latency figure is their root mean square.
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

TREE_MODIFICATIONS = 80
PAYLOAD_DEPTH = 5

# Robert Jenkins' 32-bit integer hash, as Octane's deterministic Math.random.
# JavaScript computes it in int32; every step is masked to 32 bits, so unsigned
# arithmetic modulo 2**32 gives the same bits.
seed = 49734321


def reset_random():
    global seed
    seed = 49734321


def random():
    global seed
    s = seed
    s = ((s + 0x7ed55d16) + ((s << 12) & 0xffffffff)) & 0xffffffff
    s = ((s ^ 0xc761c23c) ^ (s >> 19)) & 0xffffffff
    s = ((s + 0x165667b1) + ((s << 5) & 0xffffffff)) & 0xffffffff
    s = ((s + 0xd3a2646c) ^ ((s << 9) & 0xffffffff)) & 0xffffffff
    s = ((s + 0xfd7046c5) + ((s << 3) & 0xffffffff)) & 0xffffffff
    s = ((s ^ 0xb55a4f09) ^ (s >> 16)) & 0xffffffff
    seed = s
    return (s & 0xfffffff) / 0x10000000


class SplayNode:
    __slots__ = ("key", "value", "left", "right")

    def __init__(self, key, value):
        self.key = key
        self.value = value
        self.left = None
        self.right = None


class SplayTree:
    __slots__ = ("root",)

    def __init__(self):
        self.root = None

    def is_empty(self):
        return self.root is None

    def insert(self, key, value):
        if self.root is None:
            self.root = SplayNode(key, value)
            return
        self.splay(key)
        if self.root.key == key:
            return
        node = SplayNode(key, value)
        if key > self.root.key:
            node.left = self.root
            node.right = self.root.right
            self.root.right = None
        else:
            node.right = self.root
            node.left = self.root.left
            self.root.left = None
        self.root = node

    def remove(self, key):
        if self.root is None:
            raise KeyError("Key not found: " + str(key))
        self.splay(key)
        if self.root.key != key:
            raise KeyError("Key not found: " + str(key))
        removed = self.root
        if self.root.left is None:
            self.root = self.root.right
        else:
            right = self.root.right
            self.root = self.root.left
            self.splay(key)
            self.root.right = right
        return removed

    def find(self, key):
        if self.root is None:
            return None
        self.splay(key)
        if self.root.key == key:
            return self.root
        return None

    def find_max(self, start):
        current = start
        while current.right is not None:
            current = current.right
        return current

    def find_greatest_less_than(self, key):
        if self.root is None:
            return None
        self.splay(key)
        if self.root.key < key:
            return self.root
        if self.root.left is not None:
            return self.find_max(self.root.left)
        return None

    def export_keys(self):
        result = []
        stack = []
        current = self.root
        while current is not None or len(stack) > 0:
            while current is not None:
                stack.append(current)
                current = current.left
            current = stack.pop()
            result.append(current.key)
            current = current.right
        return result

    def splay(self, key):
        # Top-down splay (Sleator and Tarjan), as in Octane.
        if self.root is None:
            return
        dummy = SplayNode(None, None)
        left = dummy
        right = dummy
        current = self.root
        while True:
            if key < current.key:
                if current.left is None:
                    break
                if key < current.left.key:
                    tmp = current.left  # rotate right
                    current.left = tmp.right
                    tmp.right = current
                    current = tmp
                    if current.left is None:
                        break
                right.left = current  # link right
                right = current
                current = current.left
            elif key > current.key:
                if current.right is None:
                    break
                if key > current.right.key:
                    tmp = current.right  # rotate left
                    current.right = tmp.left
                    tmp.left = current
                    current = tmp
                    if current.right is None:
                        break
                left.right = current  # link left
                left = current
                current = current.right
            else:
                break
        left.right = current.left  # assemble
        right.left = current.right
        current.left = dummy.right
        current.right = dummy.left
        self.root = current


def generate_payload_tree(depth, tag):
    if depth == 0:
        return {"array": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
                "string": "String for key " + tag + " in leaf node"}
    return {"left": generate_payload_tree(depth - 1, tag),
            "right": generate_payload_tree(depth - 1, tag)}


class Stats:
    __slots__ = ("last", "count", "sum_squares", "worst")

    def __init__(self):
        self.last = time.perf_counter()
        self.count = 0
        self.sum_squares = 0.0
        self.worst = 0.0

    def sample(self):
        now = time.perf_counter()
        pause = (now - self.last) * 1000.0
        self.last = now
        self.count += 1
        self.sum_squares += pause * pause
        if pause > self.worst:
            self.worst = pause


def insert_new_node(tree):
    key = random()
    while tree.find(key) is not None:
        key = random()
    tree.insert(key, generate_payload_tree(PAYLOAD_DEPTH, str(key)))
    return key


def setup(tree, size, stats):
    for i in range(size):
        insert_new_node(tree)
        if (i + 1) % 20 == 19:
            stats.sample()


def run(tree, stats):
    for i in range(TREE_MODIFICATIONS):
        UNITS.start()  # a unit of work: one modification
        key = insert_new_node(tree)
        greatest = tree.find_greatest_less_than(key)
        if greatest is None:
            tree.remove(key)
        else:
            tree.remove(greatest.key)
        UNITS.end()
    stats.sample()


def tear_down(tree, size):
    keys = tree.export_keys()
    if len(keys) != size:
        raise RuntimeError("Splay tree has wrong size")
    for i in range(len(keys) - 1):
        if keys[i] >= keys[i + 1]:
            raise RuntimeError("Splay tree not sorted")
    return keys


def main(runs, size):
    reset_random()
    tree = SplayTree()
    stats = Stats()
    setup(tree, size, stats)
    for r in range(runs):
        run(tree, stats)
    keys = tear_down(tree, size)
    print("splay: " + str(size) + " nodes, " + str(runs) + " runs of " + str(TREE_MODIFICATIONS) + " modifications")
    print("smallest key " + str(keys[0]) + ", largest key " + str(keys[len(keys) - 1]))
    payload = tree.root.value
    while "left" in payload:
        payload = payload["left"]
    print("root payload leaf: " + payload["string"] + " " + str(len(payload["array"])))
    rms = (stats.sum_squares / stats.count) ** 0.5
    print(f"#time latency samples {stats.count} rms {rms:.3f} ms max {stats.worst:.3f} ms")
    UNITS.report()


if __name__ == "__main__":
    runs = 50
    size = 8000
    if len(UNITS.args) > 0:
        runs = int(UNITS.args[0])
    if len(UNITS.args) > 1:
        size = int(UNITS.args[1])
    main(runs, size)
