"""rt.swap_out() / rt.swap_in(): the heap written to a file and released while the
program runs (RSS falls to a few pages), pages faulted back from the file as they
are touched, a background swap-in, a second swap-out that writes only the chunks
changed since the first (write-protect tracking), and a collection that brings
everything back first. The swap file is a snapshot: it restores."""
from __future__ import annotations

import errno
import subprocess
import sys

import pytest

import gcheap
from gcheap.errors import InvalidOption, SnapshotWriteError
from gcheap.snapshot import info

pytestmark = pytest.mark.uffd
N = 40000


def heap(collector="stw"):
    rt = gcheap.Runtime("128M", collector=collector)
    Node = rt.define_class("Node", refs=["next"], scalars=["v"])
    arr = rt.new_array("ref", N)
    for i in range(N):
        arr[i] = rt.new(Node, v=i)
    rt.globals["arr"] = arr
    rt.globals["zeros"] = rt.new_array("i64", 1 << 20)     # 8 MiB of zero pages: never written
    return rt, Node, arr


@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
@pytest.mark.parametrize("collector", ["stw", "cmc"])
def test_swap_out_releases_the_heap_and_pages_come_back_as_touched(tmp_path, fault_mode, collector):
    rt, Node, arr = heap(collector)
    try:
        before = rt.heap_info()["resident"]
        rep = rt.swap_out(tmp_path / "swap", fault_mode=fault_mode)
        assert rep.kind == "swap" and rt.swap_state == "out"
        assert rep.zero_pages >= 2000 and rep.bytes_written < rep.heap_bytes / 2
        after = rt.heap_info()["resident"]
        assert after <= 0.05 * before, (before, after)
        assert arr[12345].v == 12345                         # faults back from the file
        touched = rt.heap_info()["resident"]
        assert after < touched <= after + 8 * 64 * 1024      # a few chunks, not the heap
        stats = rt.page_server_stats()
        assert stats["faults"] >= 1 and stats["bytes_read"] > 0
        rt.swap_in()
        rt.swap_in(wait=True)
        assert rt.swap_state == "tracking"
        assert all(arr[i].v == i for i in range(0, N, 13))
        rt.verify()
    finally:
        rt.close()


def test_a_second_swap_out_writes_only_what_changed(tmp_path):
    rt, Node, arr = heap()
    try:
        path = tmp_path / "swap"
        first = rt.swap_out(path)
        for i in range(0, 2000):                             # a few chunks' worth of objects
            arr[i].v = -i
        _ = arr[30000].v                                     # read only: stays clean
        second = rt.swap_out()                               # the same file
        assert second.pages_reused > 0
        assert second.bytes_written < first.bytes_written / 4, (first.bytes_written, second.bytes_written)
        rt.swap_in(wait=True)                                # resident again, write-tracked
        third = rt.swap_out()
        assert third.bytes_written == 0                      # nothing changed since the second
        assert all(arr[i].v == (-i if i < 2000 else i) for i in range(0, N, 11))
        rt.gc()                                              # brings everything back, drops the tracking
        assert rt.swap_state == "none"
        fourth = rt.swap_out(path)
        assert fourth.pages_reused == 0 and fourth.bytes_written >= first.bytes_written * 0.9
    finally:
        rt.close()
    p = subprocess.run([sys.executable, "-c", RESTORE, str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["True"]


@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
def test_each_swap_out_reports_only_the_faults_served_while_it_wrote(tmp_path, fault_mode):
    rt, Node, arr = heap()
    try:
        path = tmp_path / "swap"
        first = rt.swap_out(path, fault_mode=fault_mode)
        assert first.pages_served == 0 and len(first.stalls_s) == 0
        for i in range(0, N, 500):                           # faults back from the file between swap-outs
            _ = arr[i].v
        assert rt.page_server_stats()["blocks_by_fault"] >= 8
        second = rt.swap_out()                               # nothing touches the heap while it writes
        assert second.pages_served == 0 and len(second.stalls_s) == 0
        for i in range(0, 2000):                             # the first chunks change: written, held back
            arr[i].v = -i
        op = rt.swap_out(wait=False, writer_delay_us=200_000, batch_bytes=64 << 10)
        for i in range(N - 1, 0, -4000):                     # chunks ahead of the writer
            _ = arr[i].v
        assert not op.done
        third = op.wait()
        faults = rt.page_server_stats()["blocks_by_fault"]   # since the third's pause, all during it
        assert third.pages_served == faults * 16 > 0 and len(third.stalls_s) >= faults
    finally:
        rt.close()


RESTORE = """
import sys, gcheap
rt = gcheap.Runtime.restore(sys.argv[1])
arr = rt.globals["arr"]
print(all(arr[i].v == (-i if i < 2000 else i) for i in range(0, 40000, 3)))
rt.close()
"""


def test_the_incremental_swap_file_restores_to_the_second_state(tmp_path):
    rt, Node, arr = heap()
    try:
        path = tmp_path / "swap"
        rt.swap_out(path)
        for i in range(0, 2000):
            arr[i].v = -i
        rep = rt.swap_out(path)
        assert rep.pages_reused > 0
    finally:
        rt.close()
    p = subprocess.run([sys.executable, "-c", RESTORE, str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["True"]


def test_a_failed_swap_out_removes_a_new_file_and_keeps_an_incremental_one(tmp_path):
    """What SnapshotWriteError promises: the heap intact either way; the first
    swap-out's partial file removed; an incremental one's file kept, since it
    still holds the previous swap-out's image (the new header is written last)."""
    rt, Node, arr = heap()
    try:
        with pytest.raises(SnapshotWriteError):
            rt.swap_out(tmp_path / "new", inject=("write", 1, errno.EIO))
        assert not (tmp_path / "new").exists() and rt.swap_state == "none"
        path = tmp_path / "swap"
        rt.swap_out(path)
        for i in range(0, 2000):
            arr[i].v = -i
        with pytest.raises(SnapshotWriteError) as e:
            rt.swap_out(path, inject=("write", 1, errno.EIO))
        assert e.value.errno == errno.EIO and rt.swap_state == "none"
        assert all(arr[i].v == (-i if i < 2000 else i) for i in range(0, N, 7))
        assert info(path)["verified"]
    finally:
        rt.close()
    p = subprocess.run([sys.executable, "-c", RESTORE_FIRST, str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["True"]


RESTORE_FIRST = """
import sys, gcheap
rt = gcheap.Runtime.restore(sys.argv[1])
arr = rt.globals["arr"]
print(all(arr[i].v == i for i in range(0, 40000, 3)))
rt.close()
"""


def test_a_collection_while_swapped_out_brings_every_page_back_first(tmp_path):
    rt, Node, arr = heap("cmc")
    try:
        rt.swap_out(tmp_path / "swap")
        for i in range(0, N, 2):
            arr[i] = None
        rep = rt.gc()
        assert rt.swap_state == "none" and rep.live_bytes > 0
        assert all(arr[i].v == i for i in range(1, N, 2))
        rt.verify()
    finally:
        rt.close()


def test_a_swap_out_to_another_file_brings_the_old_one_back_first(tmp_path):
    rt, Node, arr = heap()
    try:
        rt.swap_out(tmp_path / "a")
        rep = rt.swap_out(tmp_path / "b")
        assert rep.pages_reused == 0 and rt.swap_state == "out"
        assert all(arr[i].v == i for i in range(0, N, 101))
        with pytest.raises(InvalidOption):
            rt.swap_out(tmp_path / "c", chunk_pages=5)
    finally:
        rt.close()


def test_fork_while_swapped_out_gives_the_child_the_whole_heap(tmp_path):
    import os
    rt, Node, arr = heap()
    try:
        rt.swap_out(tmp_path / "swap")
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = 0 if all(arr[i].v == i for i in range(0, N, 3)) else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert rt.swap_state == "none"                       # the fork brought it back in
    finally:
        rt.close()


def test_close_while_swapped_out(tmp_path):
    rt, Node, arr = heap()
    rt.swap_out(tmp_path / "swap")
    rt.close()
    assert rt.closed
