"""The workloads `gcheap bench` knows, and how a WORKLOAD argument names one.

    NAME                 a bundled workload with its default arguments
    NAME:ARG,ARG         ... with these arguments (e.g. binarytrees:14)
    path/to/prog.py[:ARG,ARG]   any program in the gcheap Python subset

Program workloads run under `gcheap run` semantics (and under CPython with
--cpython); Python-API workloads (api_workloads.py) run in a runner process of
their own. Heap-relative workloads fill a fraction of the heap they are given,
so they take absolute heap sizes only.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib

from gcheap.errors import InvalidOption

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples"


class UnknownWorkload(InvalidOption):
    """A WORKLOAD argument that names no bundled workload and no readable program."""


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    kind: str                           # "program" or "api"
    target: str                         # program path, or the api_workloads function name
    args: tuple[str, ...] = ()
    description: str = ""
    units: bool = True                  # the program understands --units
    collectors: tuple[str, ...] = ()    # () = any; else only these
    heap_relative: bool = False
    small_args: tuple[str, ...] = ()    # a seconds-long version (tests, --small)

    @property
    def label(self) -> str:
        return self.name + (":" + ",".join(self.args) if self.args else "")

    def with_args(self, args: tuple[str, ...]) -> "Workload":
        return dataclasses.replace(self, args=tuple(args))

    def fingerprint(self) -> str:
        """Changes when the program (or the API workload module) changes: keys the
        minimum-heap cache."""
        path = self.target if self.kind == "program" else str(pathlib.Path(__file__).with_name("api_workloads.py"))
        try:
            data = pathlib.Path(path).read_bytes()
        except OSError:
            data = b""
        return hashlib.sha256(data).hexdigest()[:16]


def _program(name: str, args: tuple[str, ...], small: tuple[str, ...], description: str) -> Workload:
    return Workload(name, "program", str(EXAMPLES / f"{name}.py"), args, description, small_args=small)


# The five GC workloads of BENCHMARKS.md, sized so that the default sweep (five
# workloads x stw, cmc x three heap multiples x three repeats) runs in minutes.
GC_WORKLOADS = {
    "gcbench": _program("gcbench", ("0",), ("6",), "GCBench (Ellis, Kovac, Boehm), depths shrunk by SHIFT"),
    "binarytrees": _program("binarytrees", ("16",), ("8",), "binary-trees (Benchmarks Game), max depth N"),
    "splay": _program("splay", ("400", "8000"), ("2", "500"),
                      "Splay (Octane): RUNS of 80 modifications, TREE_SIZE nodes"),
    "message_window": _program("message_window", ("1000000",), ("5000",),
                               "message window: MESSAGES of 1 KiB, MESSAGES // 5 live"),
    "fragmentation": _program("fragmentation", ("32",), ("1",), "fragmentation: MIB per object size, half dropped"),
}

API_WORKLOADS = {
    "half_live": Workload("half_live", "api", "half_live", ("1",),
                          "Python API: 90% of the heap in 1 KiB objects, half live; explicit collections "
                          "(flip vs stw)", heap_relative=True, small_args=("1",)),
    "fragmented": Workload("fragmented", "api", "fragmented", ("0.9", "0"),
                           "Python API: heap filled with ref arrays of random length, half live, one "
                           "collection (stw pause and phases)", heap_relative=True, small_args=("0.5", "0")),
    "compaction": Workload("compaction", "api", "compaction", ("5",),
                           "Python API: concurrent compaction throughput over steady-state cycles",
                           collectors=("cmc",), heap_relative=True, small_args=("2",)),
    "fault_stalls": Workload("fault_stalls", "api", "fault_stalls", ("3000", "3"),
                             "Python API: mutator fault stalls on pages not yet compacted "
                             "(use --opt worker_delay_us=400000)", collectors=("cmc",), heap_relative=True,
                             small_args=("200", "1")),
}

BUNDLED = {**GC_WORKLOADS, **API_WORKLOADS}
DEFAULT = tuple(GC_WORKLOADS)


def resolve(spec: str, small: bool = False) -> Workload:
    """The Workload a WORKLOAD argument names; raises UnknownWorkload."""
    if not isinstance(spec, str) or not spec.strip():
        raise UnknownWorkload("empty workload name")
    name, sep, argtext = spec.partition(":")
    args = tuple(a for a in argtext.split(",") if a) if sep else None
    if name in BUNDLED:
        w = BUNDLED[name]
        if w.kind == "program" and not pathlib.Path(w.target).is_file():
            raise UnknownWorkload(f"workload {name!r} is {w.target}, which is not here: the bundled programs "
                                  f"live in the gcheap source tree (run from a checkout, or give a program path)")
        if args is None:
            args = w.small_args if small and w.small_args else w.args
        return w.with_args(args)
    if name.endswith(".py") or os.sep in name:
        path = pathlib.Path(name).expanduser()
        if not path.is_file():
            raise UnknownWorkload(f"workload {name!r}: no such program file")
        if not os.access(path, os.R_OK):
            raise UnknownWorkload(f"workload {name!r}: program file is not readable")
        return Workload(path.stem, "program", str(path.resolve()), args or (),
                        f"program {path}", units=False)
    known = ", ".join(sorted(BUNDLED))
    raise UnknownWorkload(f"unknown workload {name!r} (bundled: {known}; or the path of a .py program)")
