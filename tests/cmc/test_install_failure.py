"""Install failures that outlast install_run's immediate retries.

A failure shorter than the install deadline must recover with every page right
(XOR builder) or the heap intact (runtime: verify() and the values written); a
permanent one must end the process with one clear line on stderr and SIGABRT
within the deadline, never hang (run in a subprocess with a timeout)."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import gcheap
from gcheap import _lowlevel as ll
from gcheap.cmc import PAGE, CmcOptions, Compactor
from gcheap.errors import InvalidArgument, InvalidOption
from gcheap.kernel import probe

from tests.support.cmc import SEED, build_fragmented, eventually, mutate_concurrently, region, undo_mutations  # noqa: F401
from tests.support.maps import assert_one_mapping

pytestmark = pytest.mark.uffd
MODES = [(f, i) for f in ("sigbus", "thread") for i in ("copy", "move", "auto")]


# ---- injection that lasts ------------------------------------------------------------

def test_persistent_injection_arguments(region):  # noqa: F811
    addr, size = region
    with Compactor(addr, size) as cm:
        with pytest.raises(OSError):
            cm.inject("ioctl", 1, errno.EIO, times=0)
        cm.inject("ioctl", 1, errno.EIO, times=-1)      # forever: accepted, disarmed by the next
        cm.inject("ioctl", 1, errno.EIO, times=1)
        cm.inject("ioctl", 5, errno.EIO, times=3)
        cm.inject("ioctl", 1000000, errno.EIO, times=1)  # never reached in this cycle
        cm.flip()
        cm.wait()
        assert cm.stats()["ioctl_errors"] == 0
    for bad in (0, -1, 3_600_001, True, 1.5):
        with pytest.raises(InvalidArgument):
            CmcOptions(install_deadline_ms=bad)
    with pytest.raises(InvalidOption):
        gcheap.Runtime("4M", collector="cmc", install_deadline_ms=0)


@pytest.mark.parametrize("fault_mode,install", MODES)
@pytest.mark.parametrize("err", [errno.ENOMEM, errno.EAGAIN])
def test_failure_shorter_than_the_deadline_recovers(region, fault_mode, install, err):  # noqa: F811
    """60 consecutive failed installs (15x install_run's immediate retries), or
    400 EAGAINs without progress (6 failures' worth): the
    claims go back, workers and faulting mutators back off and retry, nobody
    dies, every page ends up right."""
    addr, size = region
    opts = CmcOptions(fault_mode=fault_mode, install=install, worker_delay_us=5000)
    with Compactor(addr, size, opts) as cm:
        times = 60 if err == errno.ENOMEM else 400   # EAGAIN: 64 idle spins count as one failure
        cm.inject("ioctl", 1, err, times=times)
        t0 = time.monotonic()
        cm.flip()
        ts = mutate_concurrently(addr, size)
        for t in ts:
            t.join()
        cm.wait()
        assert time.monotonic() - t0 < 5
        st = cm.stats()
        assert st["worker_failures"] == 0
        if err == errno.ENOMEM:
            assert st["ioctl_errors"] == 60 and st["last_error"] == -err
        else:
            assert st["eagain"] >= 400 and st["ioctl_errors"] < 400 // 64 + 1
        assert st["pages_by_gc"] + st["pages_by_mutator"] == size // PAGE
        undo_mutations(addr, size)
        assert ll.cmc_test_check(addr, size, SEED, cm.pattern) == -1
        assert_one_mapping(addr, size)
        cm.flip()                               # the injection is spent: a clean cycle
        cm.wait()
        assert cm.stats()["ioctl_errors"] == 0


@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
def test_runtime_failure_shorter_than_the_deadline_keeps_the_heap(fault_mode):
    with gcheap.Runtime("16M", collector="cmc", require_concurrent=True, fault_mode=fault_mode,
                        worker_delay_us=5000) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, 4000)
        rt._cmc.inject("ioctl", 1, errno.ENOMEM, times=40)
        rt.gc(wait=False)
        assert all(nodes[i].v == i and nodes[i].w == i / 7 for i in range(1, 4000, 2))   # faults
        for i in range(1, 4000, 4):
            nodes[i].v = -i
        rep = rt.wait_gc()
        assert rep.concurrent and rep.complete and "ioctl" in rep.error and "ENOMEM" in rep.error
        assert rep.ioctl_errors == 40 and rep.worker_failures == 0
        rt.verify()
        assert all(nodes[i].v == (-i if i % 4 == 1 else i) for i in range(1, 4000, 2))
        assert all(a[9] == i * 1000 + 9 for i, a in arrays)
        rep = rt.gc()
        assert rep.error is None and rep.ioctl_errors == 0
        rt.verify()


# ---- a permanent failure: loud, bounded ----------------------------------------------------

MACHINERY_CHILD = """
import errno, sys, time
from gcheap import _lowlevel as ll
from gcheap.cmc import CmcOptions, Compactor
size = 4 << 20
addr = ll.map_anon(size, 2 << 20)
ll.cmc_test_fill(addr, size, 7)
cm = Compactor(addr, size, CmcOptions(fault_mode={mode!r}, install={install!r}, install_deadline_ms={deadline},
                                      worker_delay_us=20000))
cm.inject("ioctl", 1, errno.ENOMEM, times=-1)
cm.flip()
print("flipped", time.monotonic(), flush=True)
ll.cmc_test_touch(addr + 5 * 4096, 1, 1)     # a mutator blocks on a page nobody can install
print("NOT REACHED", flush=True)
"""

RUNTIME_CHILD = """
import errno, sys, time
import gcheap
rt = gcheap.Runtime("8M", collector="cmc", require_concurrent=True, fault_mode={mode!r},
                    install_deadline_ms={deadline})
Node = rt.define_class("Node", refs=["next"], scalars=["v"])
keep = [rt.new(Node, v=i) for i in range(3000)]
rt._cmc.inject("ioctl", 1, errno.EIO, times=-1)
print("flipped", time.monotonic(), flush=True)
rt.gc(wait={wait})
print(sum(n.v for n in keep), flush=True)
print("NOT REACHED", flush=True)
"""


def _run_child(code: str, deadline_ms: int) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONFAULTHANDLER": ""})
    return p, time.monotonic() - t0


def _assert_fatal(p: subprocess.CompletedProcess, op: str, err: str, deadline_ms: int) -> None:
    assert p.returncode == -signal.SIGABRT, (p.returncode, p.stdout, p.stderr)
    assert "flipped" in p.stdout and "NOT REACHED" not in p.stdout
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("gcheap cmc: FATAL")]
    assert len(lines) == 1, p.stderr
    line = lines[0]
    ops = (op,) if isinstance(op, str) else op
    assert "heap page " in line and "(address 0x" in line, line
    assert any(f"{o} failed with errno " in line for o in ops), (ops, line)
    assert f"({err})" in line and f"install deadline {deadline_ms} ms" in line, line
    stuck_ms = int(line.split(" for ")[1].split(" ms")[0])
    assert deadline_ms <= stuck_ms < deadline_ms + 1000, line


@pytest.mark.parametrize("fault_mode,install", MODES)
def test_permanent_failure_aborts_with_a_report(fault_mode, install):
    deadline = 400
    code = textwrap.dedent(MACHINERY_CHILD.format(mode=fault_mode, install=install, deadline=deadline))
    p, elapsed = _run_child(code, deadline)
    can_move = "move" in probe().features
    # auto: GC threads move, a faulting mutator copies; either may be stuck first
    ops = {"copy": "UFFDIO_COPY", "move": "UFFDIO_MOVE" if can_move else "UFFDIO_COPY",
           "auto": ("UFFDIO_MOVE", "UFFDIO_COPY") if can_move else "UFFDIO_COPY"}[install]
    _assert_fatal(p, ops, "ENOMEM", deadline)
    assert elapsed < 30


@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
@pytest.mark.parametrize("wait", [False, True], ids=["mutators-fault", "gc-waits"])
def test_runtime_permanent_failure_aborts_with_a_report(fault_mode, wait):
    deadline = 400
    code = textwrap.dedent(RUNTIME_CHILD.format(mode=fault_mode, deadline=deadline, wait=wait))
    p, elapsed = _run_child(code, deadline)
    # the runtime's default install is auto: GC threads move (where the kernel can),
    # faulting mutators copy; whichever page reaches the deadline first is reported
    moves = "move" in probe().features
    _assert_fatal(p, ("UFFDIO_MOVE", "UFFDIO_COPY") if moves else "UFFDIO_COPY", "EIO", deadline)
    assert elapsed < 30


def test_fault_thread_retries_the_pages_it_gave_back(region):  # noqa: F811
    """thread mode, no worker running yet: the fault thread's failed install must
    not leave the faulting mutator blocked until a worker comes (here 1.5 s later):
    it retries the page from its pending list with backoff."""
    addr, size = region
    with Compactor(addr, size, CmcOptions(fault_mode="thread", worker_delay_us=1_500_000)) as cm:
        cm.inject("ioctl", 1, errno.ENOMEM, times=10)
        cm.flip()
        ll.cmc_test_touch(addr + 7 * PAGE, 1, 1)    # blocks until page 7 is installed
        # ... by the fault thread, not a worker (it counts the page just after the wake-up):
        st = eventually(cm.stats, lambda st: st["pages_by_mutator"] >= 1, timeout=1.0)
        assert st["ioctl_errors"] == 10 and st["pages_by_mutator"] == 1 and st["pages_by_gc"] == 0
        cm.wait()
        assert ll.cmc_test_check(addr, size, SEED, cm.pattern) == -1
