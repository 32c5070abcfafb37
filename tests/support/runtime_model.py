"""A plain-Python model of the managed heap, and the hypothesis state machine that
checks a runtime against it.

``make_model_machine(runtime_kwargs)`` returns a RuleBasedStateMachine class for
one runtime configuration, so the same model test runs for every collector:

    TestModelStw = make_model_machine({"collector": "stw"}).TestCase

After any sequence of allocations, stores, loads, drops, global-root changes and
collections, the graph reachable from the roots must equal the model's in shape,
identity and scalar values; verify() must pass; and after a collection the heap's
used bytes must equal the live bytes the model predicts.
"""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import gcheap

NREGS = 6
GLOBALS = ("g0", "g1")
WORD = 8


def object_size(obj: dict) -> int:
    """Bytes an object occupies in the heap (header + payload, 8-byte aligned)."""
    kind = obj["kind"]
    if kind == "node":
        return WORD * (1 + 2 + 2)
    if kind in ("ref", "i64", "f64"):
        return WORD + WORD * len(obj["elems"])
    if kind == "u8":
        return WORD + (len(obj["elems"]) + 7) // 8 * 8
    if kind == "str":
        return WORD + (len(obj["text"].encode()) + 7) // 8 * 8
    raise AssertionError(kind)


def make_model_machine(runtime_kwargs: dict, heap_size: str = "8M"):
    class HeapModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.rt = gcheap.Runtime(heap_size=heap_size, **runtime_kwargs)
            self.Node = self.rt.define_class("Node", refs=["left", "right"],
                                             scalars=["value", ("weight", "f64")])
            self.objs: dict[int, dict] = {}      # model id -> model object
            self.regs: list = [None] * NREGS     # (model id, Ref) or None
            self.globals: dict[str, int | None] = {}
            self.next_id = 1

        def teardown(self) -> None:
            self.regs = []
            self.rt.close()

        # -- helpers ---------------------------------------------------------
        def _put(self, reg: int, obj: dict, ref) -> None:
            oid = self.next_id
            self.next_id += 1
            self.objs[oid] = obj
            self.regs[reg] = (oid, ref)

        def _reachable(self) -> set[int]:
            todo = [r[0] for r in self.regs if r is not None]
            todo += [g for g in self.globals.values() if g is not None]
            seen: set[int] = set()
            while todo:
                oid = todo.pop()
                if oid in seen:
                    continue
                seen.add(oid)
                o = self.objs[oid]
                if o["kind"] == "node":
                    todo += [x for x in (o["left"], o["right"]) if x is not None]
                elif o["kind"] == "ref":
                    todo += [x for x in o["elems"] if x is not None]
            return seen

        def _check_graph(self) -> None:
            """Walks every root in the heap and the model in lockstep."""
            by_addr: dict[int, int] = {}
            by_id: dict[int, int] = {}
            roots = [(r[0], r[1]) for r in self.regs if r is not None]
            for name, gid in self.globals.items():
                ref = self.rt.globals[name]
                assert (ref is None) == (gid is None)
                if gid is not None:
                    roots.append((gid, ref))
            todo = roots
            while todo:
                oid, ref = todo.pop()
                addr = ref._address()
                if oid in by_id:
                    assert by_id[oid] == addr, "one model object, two heap objects"
                    continue
                assert addr not in by_addr, f"heap object shared by model ids {by_addr.get(addr)} and {oid}"
                by_id[oid] = addr
                by_addr[addr] = oid
                o = self.objs[oid]
                kind = o["kind"]
                if kind == "node":
                    assert isinstance(ref, self.Node)
                    assert ref.value == o["value"] and ref.weight == o["weight"]
                    for f in ("left", "right"):
                        child = getattr(ref, f)
                        assert (child is None) == (o[f] is None), f
                        if child is not None:
                            todo.append((o[f], child))
                elif kind == "ref":
                    assert len(ref) == len(o["elems"])
                    for i, e in enumerate(o["elems"]):
                        child = ref[i]
                        assert (child is None) == (e is None)
                        if child is not None:
                            todo.append((e, child))
                elif kind in ("i64", "f64", "u8"):
                    assert ref.kind == kind and list(ref.to_numpy()) == o["elems"]
                else:
                    assert str(ref) == o["text"]

        # -- rules -------------------------------------------------------------
        @rule(reg=st.integers(0, NREGS - 1), value=st.integers(-2**63, 2**63 - 1),
              weight=st.floats(allow_nan=False))
        def new_node(self, reg, value, weight):
            ref = self.rt.new(self.Node, value=value, weight=weight)
            self._put(reg, {"kind": "node", "left": None, "right": None,
                            "value": value, "weight": weight}, ref)

        @rule(reg=st.integers(0, NREGS - 1), n=st.one_of(st.integers(0, 5), st.just(700)))
        def new_ref_array(self, reg, n):
            # 700 elements = 5608 bytes: always spans a page boundary
            self._put(reg, {"kind": "ref", "elems": [None] * n}, self.rt.new_array("ref", n))

        @rule(reg=st.integers(0, NREGS - 1), kind=st.sampled_from(["i64", "f64", "u8"]),
              data=st.data())
        def new_scalar_array(self, reg, kind, data):
            n = data.draw(st.one_of(st.integers(0, 9), st.just(1500)))
            a = self.rt.new_array(kind, n)
            elems = [0] * n if kind != "f64" else [0.0] * n
            for _ in range(min(n, 4)):
                i = data.draw(st.integers(0, n - 1))
                v = {"i64": st.integers(-2**63, 2**63 - 1), "u8": st.integers(0, 255),
                     "f64": st.floats(allow_nan=False)}[kind]
                elems[i] = data.draw(v)
                a[i] = elems[i]
            self._put(reg, {"kind": kind, "elems": elems}, a)

        @rule(reg=st.integers(0, NREGS - 1), text=st.text(max_size=40))
        def new_str(self, reg, text):
            self._put(reg, {"kind": "str", "text": text}, self.rt.new_str(text))

        @rule(dst=st.integers(0, NREGS - 1), src=st.integers(-1, NREGS - 1),
              field=st.sampled_from(["left", "right"]), idx=st.integers(0, 700))
        def store(self, dst, src, field, idx):
            d = self.regs[dst]
            if d is None:
                return
            s = self.regs[src] if src >= 0 else None
            o = self.objs[d[0]]
            val = s[1] if s is not None else None
            vid = s[0] if s is not None else None
            if o["kind"] == "node":
                setattr(d[1], field, val)
                o[field] = vid
            elif o["kind"] == "ref" and o["elems"]:
                i = idx % len(o["elems"])
                d[1][i] = val
                o["elems"][i] = vid

        @rule(dst=st.integers(0, NREGS - 1), src=st.integers(0, NREGS - 1),
              field=st.sampled_from(["left", "right"]), idx=st.integers(0, 700))
        def load(self, dst, src, field, idx):
            s = self.regs[src]
            if s is None:
                return
            o = self.objs[s[0]]
            if o["kind"] == "node":
                ref, vid = getattr(s[1], field), o[field]
            elif o["kind"] == "ref" and o["elems"]:
                i = idx % len(o["elems"])
                ref, vid = s[1][i], o["elems"][i]
            else:
                return
            self.regs[dst] = None if vid is None else (vid, ref)

        @rule(reg=st.integers(0, NREGS - 1), value=st.integers(-2**63, 2**63 - 1))
        def set_value(self, reg, value):
            r = self.regs[reg]
            if r is not None and self.objs[r[0]]["kind"] == "node":
                r[1].value = value
                self.objs[r[0]]["value"] = value

        @rule(reg=st.integers(0, NREGS - 1))
        def drop(self, reg):
            self.regs[reg] = None

        @rule(name=st.sampled_from(GLOBALS), reg=st.integers(-1, NREGS - 1))
        def set_global(self, name, reg):
            r = self.regs[reg] if reg >= 0 else None
            self.rt.globals[name] = r[1] if r is not None else None
            self.globals[name] = r[0] if r is not None else None

        @rule()
        def collect(self):
            report = self.rt.gc()
            live = sum(object_size(self.objs[i]) for i in self._reachable())
            assert report.live_bytes == live
            info = self.rt.heap_info()
            assert info["used"] == live and info["live"] == live
            self.rt.verify()
            self._check_graph()

        @rule()
        def verify(self):
            self.rt.verify()

        @rule(n=st.integers(1, 300), keep_every=st.integers(0, 5), reg=st.integers(0, NREGS - 1))
        def churn(self, n, keep_every, reg):
            """n garbage nodes; every keep_every-th is chained into a ref array in reg."""
            kept = [None] * (n // keep_every if keep_every else 0)
            arr = self.rt.new_array("ref", len(kept))
            node = None
            for i in range(n):
                node = self.rt.new(self.Node, value=i)
                if keep_every and i % keep_every == keep_every - 1 and i // keep_every < len(kept):
                    kept[i // keep_every] = self.next_id
                    self.objs[self.next_id] = {"kind": "node", "left": None, "right": None,
                                               "value": i, "weight": 0.0}
                    self.next_id += 1
                    arr[i // keep_every] = node
            self._put(reg, {"kind": "ref", "elems": kept}, arr)

        @invariant()
        def graph_matches(self):
            self._check_graph()

    HeapModel.__name__ = HeapModel.__qualname__ = "HeapModel_" + "_".join(
        f"{k}_{v}" for k, v in sorted(runtime_kwargs.items()))
    return HeapModel
