"""Snapshots taken while mutator threads race the writer: the graph restored in a
NEW process equals the model at the snapshot instant, in every mode (the
design, both fault modes; write-protection; stop-the-world; a swap-out's file),
under both collectors; and the live heap, which the writer gave its pages back
to meanwhile, equals the model of everything the threads did.

tests/support/snapshot_model.py explains the model: one C call per operation
that changes what is reachable, so each thread's graph at the instant is
model(progress) or model(progress + 1), and nothing else."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import gcheap
from tests.support.snapshot_model import (check_against_model, dump_heap, gen_ops, model_after, run_ops,
                                          setup)

pytestmark = pytest.mark.uffd
ROOT = Path(__file__).resolve().parents[2]
NTHREADS = 3
NOPS = 20000                # more than the threads run before the flip, even when a cmc cycle delays it


def seed_of(t: int) -> int:
    return 1000 + t


def restore_dump(path, lazy=True, collector="stw", fault_mode="sigbus") -> dict:
    p = subprocess.run([sys.executable, "-m", "tests.support.snapshot_model", "dump", str(path),
                        "lazy" if lazy else "eager", collector, fault_mode],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def wait_until(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


class Mutators:
    """NTHREADS threads running their ops on rt until stopped."""

    def __init__(self, rt, Node) -> None:
        self.rt, self.Node = rt, Node
        self.ops = [gen_ops(seed_of(t), NOPS) for t in range(NTHREADS)]
        self.done = [0] * NTHREADS
        self.stop = threading.Event()
        self.errors: list = []
        self.threads = [threading.Thread(target=self._run, args=(t,)) for t in range(NTHREADS)]

    def _run(self, t: int) -> None:
        try:
            self.done[t] = run_ops(self.rt, self.Node, t, self.ops[t], self.stop)
        except BaseException as e:      # reported by the test
            self.errors.append(e)

    def progress(self) -> list[int]:
        p = self.rt.globals["progress"]
        return [int(p[t]) for t in range(NTHREADS)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> list[int]:
        self.stop.set()
        for t in self.threads:
            t.join(60)
        assert not self.errors, self.errors
        return self.done

    def check_live(self) -> None:
        """The live heap equals the model of every operation the threads ran."""
        for t in range(NTHREADS):
            assert dump_heap(self.rt, self.Node, t) == model_after(seed_of(t), NOPS, self.done[t]), t


def ballast(rt, mib: int):
    """Old objects spread over mib MiB: what the writer spends its time on."""
    keep = rt.new_array("ref", mib * 4)
    for i in range(mib * 4):
        a = rt.new_array("i64", 32000)
        a[i % 32000] = i + 1
        keep[i] = a
    rt.globals["ballast"] = keep


MODES = [("dontunmap", "sigbus"), ("dontunmap", "thread"), ("wp", "sigbus"), ("stw", "sigbus"),
         ("swap", "sigbus"), ("swap", "thread")]


@pytest.mark.parametrize("collector", ["stw", "cmc"])
@pytest.mark.parametrize("mode,fault_mode", MODES, ids=[f"{m}-{f}" for m, f in MODES])
def test_restored_graph_equals_the_model_at_the_snapshot_instant(tmp_path, collector, mode, fault_mode):
    rt = gcheap.Runtime("128M", collector=collector, heap_initial="64M")
    try:
        Node = setup(rt, NTHREADS)
        ballast(rt, 12)
        m = Mutators(rt, Node)
        m.start()
        wait_until(lambda: min(m.progress()) >= 300)
        if collector == "cmc":
            rt.gc(wait=False)           # a cycle compacting when the snapshot starts: it finishes first
        path = tmp_path / "heap.snap"
        # the writer sleeps 3 ms per 1 MiB batch: the threads surely race it
        if mode == "swap":
            op = rt.swap_out(path, wait=False, fault_mode=fault_mode, writer_delay_us=3000)
        else:
            op = rt.snapshot(path, wait=False, mode=mode, fault_mode=fault_mode, writer_delay_us=3000)
        after = m.progress()
        wait_until(lambda: all(p >= a + 100 for p, a in zip(m.progress(), after)) or
                   max(m.progress()) >= NOPS)
        rep = op.wait()
        m.finish()
        assert rep.heap_bytes > 11 << 20 and rep.bytes_written > 0   # the ballast: 48 x 256,000 bytes
        if mode in ("dontunmap", "swap"):
            assert rep.pages_served > 0, f"no mutator was served from staging: the race did not happen ({after})"
        m.check_live()
        if mode == "swap":
            assert rt.swap_state == "out"
            rt.swap_in(wait=True)
            assert rt.swap_state == "tracking"
            m.check_live()
        rt.gc()
        rt.verify()
        m.check_live()
    finally:
        rt.close()
    got = restore_dump(path, lazy=True, collector=collector, fault_mode=fault_mode)
    assert check_against_model(seed_of, NOPS, got["threads"]) == []
    assert got["same_after_gc"]
    if mode == "dontunmap" and fault_mode == "sigbus":
        eager = restore_dump(path, lazy=False, collector=collector)
        assert eager["threads"] == got["threads"]


def test_the_model_check_catches_a_graph_from_another_instant():
    """The check is not vacuous: a dump two operations late is refused."""
    ops = gen_ops(seed_of(0), NOPS)
    k = next(i for i in range(100, NOPS) if model_after(seed_of(0), NOPS, i) != model_after(seed_of(0), NOPS, i + 2)
             and model_after(seed_of(0), NOPS, i + 1) != model_after(seed_of(0), NOPS, i + 2))
    late = {"0": {"progress": k, "dump": model_after(seed_of(0), NOPS, k + 2)}}
    assert len(ops) == NOPS
    assert check_against_model(seed_of, NOPS, late) != []
    ok = {"0": {"progress": k, "dump": model_after(seed_of(0), NOPS, k + 1)}}
    assert check_against_model(seed_of, NOPS, ok) == []


WP_CHILD = """
import sys, gcheap
from gcheap.runtime import I64Array
rt = gcheap.Runtime.restore(sys.argv[1], lazy=False)
ring, made = rt.globals["ring"], int(rt.globals["made"][0])
bad = [k for k in range(made)
       if not isinstance(ring[k], I64Array) or int(ring[k][0]) != k or int(ring[k][99]) != -k]
print(made, len(bad), bad[:3])
if not bad:
    rt.verify()
"""


def test_wp_precopy_keeps_what_was_allocated_past_the_first_rounds_top(tmp_path):
    """Mode "wp": round 1 writes the heap up to the top it read; objects allocated in
    that top's chunk before round 2 are written there, and must not be taken for
    zero pages above round 1's top (the final pause writes again only the chunks
    above it and the dirty ones). writer_delay_us sleeps after each round: the
    mutator allocates well past that chunk meanwhile and never writes it again."""
    n = 60000
    with gcheap.Runtime("128M", collector="stw") as rt:
        ring = rt.globals["ring"] = rt.new_array("ref", n)
        made = rt.globals["made"] = rt.new_array("i64", 1)
        started, stop, errors = threading.Event(), threading.Event(), []

        def mutator():
            try:
                for k in range(n):
                    if stop.is_set():
                        break
                    a = rt.new_array("i64", 100)
                    a[0], a[99] = k, -k
                    ring[k] = a
                    made[0] = k + 1
                    if k == 2000:
                        started.set()
            except BaseException as e:      # noqa: BLE001 - reported below
                errors.append(e)
            started.set()

        t = threading.Thread(target=mutator)
        t.start()
        started.wait(30)
        path = tmp_path / "wp.snap"
        rep = rt.snapshot(path, mode="wp", wp_rounds=4, writer_delay_us=20000)
        stop.set()
        t.join(60)
        assert not errors, errors
        assert rep.wp_rounds >= 1
    p = subprocess.run([sys.executable, "-c", WP_CHILD, str(path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    made_at, nbad, first = p.stdout.split(maxsplit=2)
    assert int(made_at) > 2000 and nbad == "0", p.stdout
