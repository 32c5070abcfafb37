"""Allocation rate and field read/write cost through the Python API.

Run: .venv/bin/python -m pytest bench/test_api_bench.py --benchmark-enable
Each benchmark does N operations per round, so per-operation cost = mean / N.
A plain Python object with __slots__ is measured beside them as the yardstick.
"""
import pytest

import gcheap

N = 10_000


@pytest.fixture(scope="module")
def rt():
    with gcheap.Runtime(heap_size="256M") as r:
        yield r


@pytest.fixture(scope="module")
def Node(rt):
    return rt.define_class("Node", refs=["left", "right"], scalars=["value", ("weight", "f64")])


class PyNode:
    __slots__ = ("left", "right", "value", "weight")

    def __init__(self):
        self.left = self.right = None
        self.value = 0
        self.weight = 0.0


def _per_op(benchmark, n=N):
    benchmark.extra_info["ops_per_round"] = n


def test_alloc_instance(benchmark, rt, Node):
    new = rt.new

    def run():
        for _ in range(N):
            new(Node)
    _per_op(benchmark)
    benchmark(run)


def test_alloc_instance_with_fields(benchmark, rt, Node):
    new = rt.new

    def run():
        for i in range(N):
            new(Node, value=i, weight=0.5)
    _per_op(benchmark)
    benchmark(run)


def test_alloc_array_i64_16(benchmark, rt):
    new_array = rt.new_array

    def run():
        for _ in range(N):
            new_array("i64", 16)
    _per_op(benchmark)
    benchmark(run)


def test_alloc_pyobject_baseline(benchmark):
    def run():
        for _ in range(N):
            PyNode()
    _per_op(benchmark)
    benchmark(run)


def test_read_i64_field(benchmark, rt, Node):
    n = rt.new(Node, value=3)

    def run():
        for _ in range(N):
            n.value
    _per_op(benchmark)
    benchmark(run)


def test_write_i64_field(benchmark, rt, Node):
    n = rt.new(Node)

    def run():
        for i in range(N):
            n.value = i
    _per_op(benchmark)
    benchmark(run)


def test_read_ref_field(benchmark, rt, Node):
    n = rt.new(Node)
    n.left = rt.new(Node)

    def run():
        for _ in range(N):
            n.left
    _per_op(benchmark)
    benchmark(run)


def test_write_ref_field(benchmark, rt, Node):
    n = rt.new(Node)
    m = rt.new(Node)

    def run():
        for _ in range(N):
            n.left = m
    _per_op(benchmark)
    benchmark(run)


def test_read_f64_element(benchmark, rt):
    a = rt.new_array("f64", 16)
    a[3] = 1.5

    def run():
        for _ in range(N):
            a[3]
    _per_op(benchmark)
    benchmark(run)


def test_read_pyobject_field_baseline(benchmark):
    n = PyNode()

    def run():
        for _ in range(N):
            n.value
    _per_op(benchmark)
    benchmark(run)
