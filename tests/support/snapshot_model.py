"""A model of the heap graphs that mutator threads build while a snapshot is taken,
and the canonical dumps that compare a heap with the model.

Each mutator thread t owns a ref array of NREGS registers (global root "t<t>")
and runs a fixed, seeded list of operations on the objects reachable from it.
Every operation changes the reachable graph with ONE C call (a store into a
register or a field; objects are made first, unreachable), and after operation
k the thread stores k + 1 into slot t of the global i64 array "progress". So a
snapshot taken at any instant holds, for each thread, either model(progress) or
model(progress + 1): the operation in flight at the pause either landed or not.
Nothing else is acceptable.

``python -m tests.support.snapshot_model dump FILE ...`` restores FILE in a new
process and prints every thread's progress and canonical dump as JSON.
"""
from __future__ import annotations

import json
import random
import sys

NREGS = 8
FIELDS = ("l", "r")


def gen_ops(seed: int, n: int) -> list[tuple]:
    rnd = random.Random(seed)
    ops = []
    for _ in range(n):
        k = rnd.random()
        reg = rnd.randrange(NREGS)
        if k < 0.18:
            ops.append(("new", reg, rnd.randrange(-2**40, 2**40)))
        elif k < 0.45:
            src = rnd.randrange(-1, NREGS)
            ops.append(("link", reg, rnd.choice(FIELDS), None if src < 0 else src))
        elif k < 0.70:
            ops.append(("setv", reg, rnd.randrange(-2**40, 2**40)))
        elif k < 0.80:
            ops.append(("copy", reg, rnd.randrange(NREGS)))
        elif k < 0.85:
            ops.append(("drop", reg))
        elif k < 0.92:
            ops.append(("str", reg, "s%d" % rnd.randrange(10**6) * rnd.randrange(1, 4)))
        else:
            n_el = rnd.choice([3, 700])          # 700 i64: spans a page boundary
            ops.append(("iarr", reg, n_el, rnd.randrange(n_el), rnd.randrange(-2**40, 2**40)))
    return ops


class Model:
    """One thread's graph in plain Python."""

    def __init__(self) -> None:
        self.objs: dict[int, dict] = {}
        self.regs: list = [None] * NREGS
        self.next = 1

    def _new(self, o: dict) -> int:
        oid = self.next
        self.next += 1
        self.objs[oid] = o
        return oid

    def apply(self, op: tuple) -> None:
        kind, reg = op[0], op[1]
        if kind == "new":
            self.regs[reg] = self._new({"kind": "node", "v": op[2], "l": None, "r": None})
        elif kind == "link":
            d = self.regs[reg]
            if d is not None and self.objs[d]["kind"] == "node":
                self.objs[d][op[2]] = None if op[3] is None else self.regs[op[3]]
        elif kind == "setv":
            d = self.regs[reg]
            if d is not None and self.objs[d]["kind"] == "node":
                self.objs[d]["v"] = op[2]
        elif kind == "copy":
            self.regs[reg] = self.regs[op[2]]
        elif kind == "drop":
            self.regs[reg] = None
        elif kind == "str":
            self.regs[reg] = self._new({"kind": "str", "text": op[2]})
        elif kind == "iarr":
            elems = [0] * op[2]
            elems[op[3]] = op[4]
            self.regs[reg] = self._new({"kind": "iarr", "elems": elems})

    def dump(self) -> dict:
        """The canonical form: objects numbered in breadth-first order from the registers."""
        ids: dict[int, int] = {}
        order: list[int] = []

        def num(oid):
            if oid is None:
                return None
            if oid not in ids:
                ids[oid] = len(order)
                order.append(oid)
            return ids[oid]

        regs = [num(r) for r in self.regs]
        out, i = [], 0
        while i < len(order):
            o = self.objs[order[i]]
            if o["kind"] == "node":
                out.append(["node", o["v"], num(o["l"]), num(o["r"])])
            elif o["kind"] == "str":
                out.append(["str", o["text"]])
            else:
                out.append(["iarr", list(o["elems"])])
            i += 1
        return {"regs": regs, "objs": out}


def model_after(seed: int, nops: int, k: int) -> dict:
    m = Model()
    for op in gen_ops(seed, nops)[:k]:
        m.apply(op)
    return m.dump()


def setup(rt, nthreads: int):
    """The classes, registers and progress array the threads use."""
    Node = rt.define_class("Node", refs=list(FIELDS), scalars=["v"])
    for t in range(nthreads):
        rt.globals[f"t{t}"] = rt.new_array("ref", NREGS)
    rt.globals["progress"] = rt.new_array("i64", nthreads)
    return Node


def run_ops(rt, Node, t: int, ops: list, stop, start_at: int = 0) -> int:
    """Runs ops on thread t's graph until stop is set or they run out; returns how many ran."""
    regs = rt.globals[f"t{t}"]
    progress = rt.globals["progress"]
    k = start_at
    while k < len(ops) and not stop.is_set():
        op = ops[k]
        kind, reg = op[0], op[1]
        if kind == "new":
            regs[reg] = rt.new(Node, v=op[2])
        elif kind == "link":
            d = regs[reg]
            if isinstance(d, Node):
                setattr(d, op[2], None if op[3] is None else regs[op[3]])
        elif kind == "setv":
            d = regs[reg]
            if isinstance(d, Node):
                d.v = op[2]
        elif kind == "copy":
            regs[reg] = regs[op[2]]
        elif kind == "drop":
            regs[reg] = None
        elif kind == "str":
            regs[reg] = rt.new_str(op[2])
        elif kind == "iarr":
            a = rt.new_array("i64", op[2])
            a[op[3]] = op[4]
            regs[reg] = a
        k += 1
        progress[t] = k
    return k


def dump_heap(rt, Node, t: int) -> dict:
    """Thread t's graph in the runtime, in Model.dump's canonical form."""
    from gcheap.runtime import I64Array, Str
    regs_arr = rt.globals[f"t{t}"]
    ids: dict[int, int] = {}
    order: list = []

    def num(ref):
        if ref is None:
            return None
        a = ref._address()
        if a not in ids:
            ids[a] = len(order)
            order.append(ref)
        return ids[a]

    regs = [num(regs_arr[i]) for i in range(NREGS)]
    out, i = [], 0
    while i < len(order):
        ref = order[i]
        if isinstance(ref, Node):
            out.append(["node", ref.v, num(ref.l), num(ref.r)])
        elif isinstance(ref, Str):
            out.append(["str", str(ref)])
        else:
            assert isinstance(ref, I64Array), type(ref)
            out.append(["iarr", [int(x) for x in ref.to_numpy()]])
        i += 1
    return {"regs": regs, "objs": out}


def check_against_model(seed_of, nops: int, got: dict) -> list[str]:
    """got: {t: {"progress": n, "dump": ...}}. Differences from model(n) / model(n + 1)."""
    problems = []
    for t, d in got.items():
        n = d["progress"]
        seed = seed_of(int(t))
        if d["dump"] != model_after(seed, nops, n) and d["dump"] != model_after(seed, nops, min(n + 1, nops)):
            problems.append(f"thread {t}: the graph is neither model({n}) nor model({n + 1})")
    return problems


def main(argv: list[str]) -> int:
    if argv[:1] != ["dump"]:
        print("usage: python -m tests.support.snapshot_model dump FILE [lazy|eager] [stw|cmc] [sigbus|thread]",
              file=sys.stderr)
        return 2
    import gcheap
    path = argv[1]
    lazy = (argv[2] if len(argv) > 2 else "lazy") == "lazy"
    collector = argv[3] if len(argv) > 3 else "stw"
    fault_mode = argv[4] if len(argv) > 4 else "sigbus"
    rt = gcheap.Runtime.restore(path, lazy=lazy, collector=collector, restore_fault_mode=fault_mode)
    Node = rt._classes["Node"]
    progress = rt.globals["progress"]
    nthreads = len(progress)
    out = {str(t): {"progress": int(progress[t]), "dump": dump_heap(rt, Node, t)} for t in range(nthreads)}
    # the restored runtime works: a collection (after the lazy restore's last page),
    # and the graph is the same after it
    rt.gc()
    rt.verify()
    again = {str(t): dump_heap(rt, Node, t) for t in range(nthreads)}
    same = all(again[t] == out[t]["dump"] for t in out)
    print(json.dumps({"threads": out, "same_after_gc": same}))
    rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
