"""Units of work: how a workload tells the harness when each unit started and ended.

A bundled example program carries the class below verbatim (the subset has no
imports of user modules; tests/bench/test_units.py checks every copy against
UNITS_SOURCE). Given --units as its last argument it stamps each unit with
time.perf_counter() (CLOCK_MONOTONIC on Linux, under CPython and under gcheap:
the clock of the pause log) and prints the stamps at exit, after its normal
output, as lines "#time unit START END". Without --units it records nothing
and prints nothing extra, so `python examples/X.py` behaves as before.
Python-API workloads use UnitClock, which keeps the same stamps in lists.
"""
from __future__ import annotations

import time

UNITS_SOURCE = '''\
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
'''

UNITS_FLAG = "--units"
_PREFIX = "#time unit "


def parse_units(stdout: str) -> tuple[list[float], list[float], list[str]]:
    """(starts, ends, other lines) from a program's output."""
    starts: list[float] = []
    ends: list[float] = []
    other: list[str] = []
    for line in stdout.splitlines():
        if line.startswith(_PREFIX):
            a, b = line[len(_PREFIX):].split()
            starts.append(float(a))
            ends.append(float(b))
        else:
            other.append(line)
    return starts, ends, other


def deterministic_output(lines: list[str]) -> list[str]:
    """The lines a program prints that depend neither on time nor on the
    implementation (docs/subset.md, "Output conventions")."""
    return [ln for ln in lines if not ln.startswith(("#time", "#heap"))]


class UnitClock:
    """Unit stamps of a Python-API workload (same clock as the programs')."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []

    def start(self) -> None:
        self.starts.append(time.perf_counter())

    def end(self) -> None:
        self.ends.append(time.perf_counter())
