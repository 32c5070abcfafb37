"""fork() while other threads allocate, collect and run interpreter programs on
a runtime: the fork waits for them to reach a safepoint (csrc/runtime/fork.c),
and the child can use its runtime: the data built before the fork is intact,
it allocates, collects (stop-the-world when the collector's threads stayed with
the parent), verifies and closes."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import gcheap
from gcheap.interp.run import run_file

PROGRAM = """
n = 0
total = 0
while n < 400:
    xs = []
    for i in range(300):
        xs.append([i, str(i)])
    total += len(xs)
    n += 1
print(total)
"""


def wait_child(pid: int, timeout_s: float, hung: str) -> None:
    """Waits for the forked child; it must exit 0 within timeout_s (else killed: hung)."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(hung)
        time.sleep(0.005)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def child_checks(rt, head_len: int) -> int:
    """Runs in the child: 0 when the runtime works there."""
    try:
        head = rt.globals["head"]
        n = 0
        while head is not None:
            assert head.seq == head_len - 1 - n
            head = head.next
            n += 1
        assert n == head_len
        Node = rt._classes["Node"]
        keep = rt.new_array("ref", 1000)
        for i in range(20000):
            x = rt.new(Node, seq=i)
            if i % 20 == 0:
                keep[i // 20] = x
        rt.gc()
        rt.verify()
        assert all(keep[i].seq == i * 20 for i in range(1000))
        rt.close()
        return 0
    except BaseException as e:  # reported through the exit status
        os.write(2, f"child: {type(e).__name__}: {e}\n".encode())
        return 1


@pytest.mark.parametrize("collector", ["stw", pytest.param("cmc", marks=pytest.mark.uffd)])
def test_child_forked_amid_allocation_collection_and_a_program_can_use_its_runtime(tmp_path, collector):
    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    with gcheap.Runtime(heap_size="256M", collector=collector) as rt:
        Node = rt.define_class("Node", refs=["next"], scalars=["seq"])
        head = None
        for i in range(500):
            head = rt.new(Node, next=head, seq=i)
        rt.globals["head"] = head
        del head
        stop = threading.Event()
        errors: list[BaseException] = []

        def allocate():
            try:
                while not stop.is_set():
                    chain = None
                    for i in range(200):
                        chain = rt.new(Node, next=chain, seq=i)
                    rt.new_array("u8", 4000)
            except BaseException as e:
                errors.append(e)

        def collect():
            try:
                while not stop.is_set():
                    rt.gc()
                    time.sleep(0.002)
            except BaseException as e:
                errors.append(e)

        def program():
            try:
                while not stop.is_set():
                    with open(os.devnull, "w") as out:
                        run_file(str(prog), runtime=rt, stdout_fd=out.fileno())
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=f) for f in (allocate, allocate, collect, program)]
        for t in threads:
            t.start()
        try:
            for _ in range(4):
                time.sleep(0.05)
                pid = os.fork()
                if pid == 0:
                    os._exit(child_checks(rt, 500))
                wait_child(pid, 60, "the forked child hung")
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert not errors, errors
        rt.verify()


@pytest.mark.uffd
def test_child_closes_cmc_runtime_while_parent_threads_were_in_its_entry_points():
    """Threads of the parent inside cmc's public entry points at the fork (here
    gc(), waiting for a compaction that the workers start late) do not exist in
    the child: its close() must not wait for them (it did, forever: their count
    in api_users was never released)."""
    with gcheap.Runtime(heap_size="64M", collector="cmc", worker_delay_us=3000) as rt:
        Node = rt.define_class("Node", refs=["next"], scalars=["seq"])
        rt.globals["keep"] = rt.new(Node, seq=1)
        stop = threading.Event()

        def collect():
            while not stop.is_set():
                rt.gc()
                rt.stats()

        threads = [threading.Thread(target=collect) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            for _ in range(20):
                time.sleep(0.002)
                pid = os.fork()
                if pid == 0:
                    try:
                        rt.gc()
                        assert rt.globals["keep"].seq == 1
                        rt.close()
                        os._exit(0)
                    except BaseException:
                        os._exit(1)
                wait_child(pid, 20, "the forked child hung in close()")
        finally:
            stop.set()
            for t in threads:
                t.join(60)
