"""fork() while a cycle compacts: the fork waits for the cycle (csrc/cmc/fork.c),
so the child's heap is complete; in the child the runtime compacts
stop-the-world (concurrent=False) and the raw Compactor refuses to flip with a
typed error. Each child checks everything itself and reports through its exit
status (os._exit: no pytest, no atexit in the child)."""
from __future__ import annotations

import os
import threading
import time
import traceback

import pytest

import gcheap
from gcheap import _lowlevel as ll
from gcheap.cmc import PAGE, CmcOptions, Compactor
from gcheap.errors import UffdUnavailable

from tests.support.cmc import SEED, build_fragmented, region  # noqa: F401

pytestmark = pytest.mark.uffd


def _fork(child_checks) -> int:
    """Forks; the child runs child_checks() and exits 0 if it returned, 1 if it
    raised (traceback on fd 2). Returns the pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child_checks()
            code = 0
        except BaseException:  # noqa: BLE001
            os.write(2, traceback.format_exc().encode())
        finally:
            os._exit(code)
    return pid


def _reap(pid: int, timeout: float = 60.0) -> int:
    """The child's exit status; a child that hangs is killed and fails the test."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.WIFEXITED(status), f"child killed by signal {os.WTERMSIG(status)}"
            return os.WEXITSTATUS(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("forked child hung")


@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
@pytest.mark.parametrize("install", ["copy", "move"])
def test_fork_during_a_cycle_child_sees_the_whole_heap(fault_mode, install):
    n = 4000
    with gcheap.Runtime("16M", collector="cmc", require_concurrent=True, fault_mode=fault_mode,
                        install=install, worker_delay_us=300000) as rt:
        Node, head, nodes, arrays = build_fragmented(rt, n)
        rep = rt.gc(wait=False)
        assert rep.concurrent and not rep.complete
        assert ll.gr_cmc_active(rt._c)              # workers sleep 300 ms: the fork meets the cycle

        def child():
            assert not ll.gr_cmc_active(rt._c)      # the fork waited for it
            assert not rt.concurrent and rt._cmc.forked
            assert all(nodes[i].v == i and nodes[i].w == i / 7 for i in range(1, n, 2))
            assert all(a[9] == i * 1000 + 9 for i, a in arrays)
            rt.verify()
            for i in range(1, n, 4):
                nodes[i].v = -i
            extra = [rt.new(Node, v=k) for k in range(500)]
            rep = rt.gc()                           # stop-the-world here
            assert not rep.concurrent and rep.complete and "forked child" in rep.error
            rt.verify()
            assert all(nodes[i].v == (-i if i % 4 == 1 else i) for i in range(1, n, 2))
            assert [e.v for e in extra] == list(range(500))
            m, count = head, 0
            while m is not None:
                m, count = m.next, count + 1
            assert count == len(range(0, n, 3))
            rt.close()                              # joins no thread of the parent

        pid = _fork(child)
        assert not ll.gr_cmc_active(rt._c)          # parent: the cycle ended before the fork
        assert _reap(pid) == 0
        done = rt.wait_gc()
        assert done.complete and done.concurrent and done.error is None
        rt.verify()
        assert all(nodes[i].v == i for i in range(1, n, 2))
        rep = rt.gc()                               # the parent stays concurrent
        assert rep.concurrent and rt.concurrent
        rt.verify()


@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
def test_fork_during_a_compactor_cycle(region, fault_mode):  # noqa: F811
    addr, size = region
    with Compactor(addr, size, CmcOptions(fault_mode=fault_mode, worker_delay_us=300000)) as cm:
        cm.flip()
        assert cm.active

        def child():
            assert not cm.active
            assert ll.cmc_test_check(addr, size, SEED, cm.pattern) == -1
            with pytest.raises(UffdUnavailable, match="fork child"):
                cm.flip()
            assert ll.cmc_test_check(addr, size, SEED, cm.pattern) == -1     # refused before acting
            cm.close()

        pid = _fork(child)
        assert _reap(pid) == 0
        cm.wait()
        assert ll.cmc_test_check(addr, size, SEED, cm.pattern) == -1
        cm.flip()
        cm.wait()
        assert ll.cmc_test_check(addr, size, SEED, 0) == -1


def test_forks_while_another_thread_flips(region):  # noqa: F811
    """A thread runs back-to-back cycles; every fork lands between a flip and
    the end of its cycle or between cycles, never inside either: the child sees
    the region as of a whole number of cycles."""
    addr, size = region
    with Compactor(addr, size, CmcOptions(fault_mode="sigbus", gc_threads=2)) as cm:
        stop = threading.Event()
        errors = []

        def flipper():
            try:
                while not stop.is_set():
                    cm.flip()
                    cm.wait()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=flipper)
        t.start()
        try:
            for _ in range(8):
                time.sleep(0.02)

                def child():
                    st = cm.stats()
                    assert st["active"] == 0
                    pattern = cm.pattern if st["cycles"] % 2 else 0
                    assert ll.cmc_test_check(addr, size, SEED, pattern) == -1, st["cycles"]

                assert _reap(_fork(child)) == 0
        finally:
            stop.set()
            t.join()
        assert not errors, errors
        assert cm.stats()["cycles"] > 8
