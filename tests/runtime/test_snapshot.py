"""rt.snapshot(): its report, how it composes with the collectors (a running cmc
cycle finishes first, a collection requested meanwhile waits, close and fork wait
for it), and what happens when writing fails (a full disk, a file size limit, an
injected write error, a writer thread that dies): a typed error, the program goes
on, the heap intact, the partial file removed, nothing hangs."""
from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import gcheap
from gcheap.errors import InvalidOption, SnapshotWriteError
from gcheap.snapshot import info

pytestmark = pytest.mark.uffd


def small_heap(collector="stw", n=4000, **kw):
    rt = gcheap.Runtime("64M", collector=collector, **kw)
    Node = rt.define_class("Node", refs=["next"], scalars=["v", ("w", "f64")])
    arr = rt.new_array("ref", n)
    for i in range(n):
        arr[i] = rt.new(Node, v=i, w=i / 2)
    rt.globals["arr"] = arr
    rt.globals["big"] = rt.new_array("i64", 300_000)     # mostly zero pages
    return rt, Node, arr


def check_values(arr, n):
    for i in range(0, n, 97):
        assert arr[i].v == i and arr[i].w == i / 2


def test_report_and_pause_log(tmp_path):
    rt, Node, arr = small_heap()
    try:
        rep = rt.snapshot(tmp_path / "s")
        d = rep.as_dict()
        assert rep.kind == "snapshot" and rep.mode == "dontunmap"
        assert 0 < rep.pause_s < 0.1 and rep.write_s > 0 and rep.total_s >= rep.write_s
        assert rep.heap_bytes == rt.heap_info()["used"]
        assert rep.zero_pages > 500                      # the big i64 array: never written
        assert rep.bytes_written == rep.pages_written * 4096 < rep.heap_bytes
        assert rep.pages_moved_back > 0 and rep.file_bytes == os.path.getsize(tmp_path / "s")
        assert rep.metadata_bytes < 64 << 10
        assert set(d) >= {"pause_s", "bytes_written", "write_s", "pages_served", "peak_extra_rss", "stall_p99_s"}
        snap = [p for p in rt.stats()["pauses"] if p.kind == "snapshot"]
        assert len(snap) == 1 and snap[0].pause_s == pytest.approx(rep.pause_s, abs=1e-6)
        assert rt.stats()["collections"] == 0            # a snapshot is not a collection
        check_values(arr, 4000)
        rt.verify()
    finally:
        rt.close()


def test_bad_arguments_are_rejected_before_anything_happens(tmp_path):
    rt, Node, arr = small_heap()
    try:
        for kw in ({"mode": "teleport"}, {"fault_mode": "x"}, {"chunk_pages": 3}, {"chunk_pages": 128},
                   {"wait": "yes"}, {"writer_delay_us": -1}, {"inject": ("nope", 1, 0)}):
            with pytest.raises(InvalidOption):
                rt.snapshot(tmp_path / "x", **kw)
        assert not (tmp_path / "x").exists()
        with pytest.raises(InvalidOption):
            rt.swap_out()                                # no path yet
    finally:
        rt.close()


def test_a_running_cmc_cycle_finishes_before_the_snapshot_pause(tmp_path):
    rt, Node, arr = small_heap("cmc", worker_delay_us=50_000)
    try:
        for i in range(0, 4000, 2):
            arr[i] = None                                # garbage: the cycle moves things
        rt.gc(wait=False)
        assert rt._cmc is not None
        rep = rt.snapshot(tmp_path / "s")
        cycle = rt.cycles()[-1]
        snap = [p for p in rt.stats()["pauses"] if p.kind == "snapshot"][-1]
        assert cycle["end_s"] <= snap.start_s, "the snapshot paused while the cycle compacted"
        assert rep.pause_s < 0.1
        for i in range(1, 4000, 198):                   # the odd ones stayed
            assert arr[i].v == i
        rt.verify()
    finally:
        rt.close()


@pytest.mark.parametrize("collector", ["stw", "cmc"])
def test_a_collection_requested_during_the_snapshot_waits_for_it(tmp_path, collector):
    rt, Node, arr = small_heap(collector)
    try:
        op = rt.snapshot(tmp_path / "s", wait=False, writer_delay_us=30_000)
        assert not op.done
        rt.gc()                                          # waits at the gate until every page is back
        assert op.done
        rep = op.wait()
        assert rep.bytes_written > 0
        check_values(arr, 4000)
        rt.verify()
    finally:
        rt.close()


def test_close_waits_for_a_snapshot_under_way(tmp_path):
    rt, Node, arr = small_heap()
    op = rt.snapshot(tmp_path / "s", wait=False, writer_delay_us=20_000)
    rt.close()
    assert op.done
    rep = op.wait()
    assert info(tmp_path / "s")["verified"] and rep.bytes_written > 0


def test_fork_during_a_snapshot_waits_for_it_and_the_child_sees_the_heap(tmp_path):
    rt, Node, arr = small_heap()
    try:
        op = rt.snapshot(tmp_path / "s", wait=False, writer_delay_us=20_000)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = 0 if all(arr[i].v == i for i in range(0, 4000, 7)) else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert op.done
        op.wait()
        check_values(arr, 4000)
    finally:
        rt.close()


@pytest.mark.parametrize("inject,err", [(("write", 2, errno.ENOSPC), errno.ENOSPC),
                                        (("write", 1, errno.EIO), errno.EIO),
                                        (("writer_dies", 1, 0), errno.ECANCELED)])
@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
def test_a_failed_write_leaves_the_heap_intact_and_removes_the_file(tmp_path, inject, err, fault_mode):
    rt, Node, arr = small_heap()
    try:
        path = tmp_path / "s"
        op = rt.snapshot(path, wait=False, fault_mode=fault_mode, inject=inject, writer_delay_us=5000,
                         batch_bytes=64 << 10)
        for i in range(0, 4000, 50):                     # mutators meanwhile: copies from staging
            arr[i].v = -i
        with pytest.raises(SnapshotWriteError) as e:
            op.wait()
        assert e.value.errno == err
        assert not path.exists()
        for i in range(0, 4000, 50):
            assert arr[i].v == -i
        for i in range(1, 4000, 50):
            assert arr[i].v == i
        rt.verify()
        rt.gc()
        rep = rt.snapshot(path)                          # and the next one works
        assert rep.bytes_written > 0
    finally:
        rt.close()


def test_a_dead_writer_does_not_hang_a_collection(tmp_path):
    rt, Node, arr = small_heap()
    try:
        op = rt.snapshot(tmp_path / "s", wait=False, inject=("writer_dies", 1, 0), batch_bytes=64 << 10)
        t0 = time.monotonic()
        rt.gc()                                          # the gate's hurry finishes the dead writer's work
        assert time.monotonic() - t0 < 10
        with pytest.raises(SnapshotWriteError):
            op.wait()
        check_values(arr, 4000)
        rt.verify()
    finally:
        rt.close()


def test_a_failed_flip_leaves_the_heap_as_it_was(tmp_path):
    rt, Node, arr = small_heap()
    try:
        with pytest.raises(SnapshotWriteError) as e:
            rt.snapshot(tmp_path / "s", inject=("flip", 1, errno.ENOMEM))
        assert e.value.errno == errno.ENOMEM and not (tmp_path / "s").exists()
        check_values(arr, 4000)
        rt.verify()
        assert rt.snapshot(tmp_path / "s").bytes_written > 0
    finally:
        rt.close()


NO_MOVE = """
import errno, sys
import gcheap
from gcheap import _lowlevel as ll
from gcheap.errors import SnapshotWriteError
ll.ps_mask_features(ll.FEATURE_MOVE)                     # page servers as on a kernel before 6.8
rt = gcheap.Runtime("64M", heap_initial="48M")           # no collection: the fill pattern is by address
Node = rt.define_class("Node", scalars=["v"])
arr = rt.new_array("ref", 20000)
for i in range(20000):
    arr[i] = rt.new(Node, v=i)
rt.globals["arr"] = arr
blobs = rt.new_array("ref", 16)
for k in range(16):                                      # 16 MiB of pages that are not zero
    blobs[k] = rt.new_array("u8", (1 << 20) - 16)
    ll.cmc_test_fill(blobs[k]._address() + 8, (1 << 20) - 24, k)
rt.globals["blobs"] = blobs
op = rt.snapshot(sys.argv[1], wait=False, fault_mode=sys.argv[2], writer_delay_us=2000, batch_bytes=64 << 10)
for i in range(0, 20000, 100):                           # mutators meanwhile: copies from staging
    arr[i].v = -i
rep = op.wait()
# staging's pages are dropped as the writer goes: the copies never double the heap
print(rep.move_fallback, rep.pages_moved_back > 0, rep.peak_extra_rss < rep.heap_bytes // 4)
try:                                                     # a failure puts every staged page back the same way
    rt.snapshot(sys.argv[1] + ".2", inject=("write", 2, errno.EIO), batch_bytes=64 << 10)
except SnapshotWriteError as e:
    print("error", errno.errorcode[e.errno])
print(all(arr[i].v == (-i if i % 100 == 0 else i) for i in range(20000))
      and all(ll.cmc_test_check(blobs[k]._address() + 8, (1 << 20) - 24, k, 0) == -1 for k in range(16)))
rt.verify()
rt.gc()
print(rt.snapshot(sys.argv[1] + ".3").move_fallback)
"""


@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
def test_without_uffdio_move_the_snapshot_copies_pages_back_and_says_so(tmp_path, fault_mode):
    """A kernel before 6.8 has no UFFDIO_MOVE: the page server is opened without it
    (gk_ps_mask_features), the snapshot finds that out before its pause and gives
    staged pages back by UFFDIO_COPY, dropping each batch's staged originals
    (move_fallback in the report), and a failed write does the same."""
    path = tmp_path / "s"
    p = subprocess.run([sys.executable, "-c", NO_MOVE, str(path), fault_mode], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["True", "True", "True", "error", "EIO", "True", "True"]
    assert info(path)["verified"]


def test_with_uffdio_move_the_report_has_no_fallback(tmp_path, uffd_caps):
    rt, Node, arr = small_heap()
    try:
        assert rt.snapshot(tmp_path / "s").move_fallback == ("move" not in uffd_caps.features)
    finally:
        rt.close()


FSIZE = """
import errno, resource, sys
import gcheap
from gcheap.errors import SnapshotWriteError
rt = gcheap.Runtime("64M")
Node = rt.define_class("Node", scalars=["v"])
arr = rt.new_array("ref", 20000)
for i in range(20000):
    arr[i] = rt.new(Node, v=i)
rt.globals["arr"] = arr
resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, resource.RLIM_INFINITY))
try:
    rt.snapshot(sys.argv[1])
    print("written")
except SnapshotWriteError as e:
    print("error", errno.errorcode[e.errno])
assert all(arr[i].v == i for i in range(20000))
rt.verify()
rt.gc()
arr[5] = rt.new(Node, v=-5)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
print("again", rt.snapshot(sys.argv[1]).bytes_written > 0, arr[5].v)
"""


def test_a_file_size_limit_fails_the_snapshot_not_the_program(tmp_path):
    p = subprocess.run([sys.executable, "-c", FSIZE, str(tmp_path / "s")], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["error", "EFBIG", "again", "True", "-5"]


def test_a_full_file_system_fails_the_snapshot_not_the_program(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.decode().strip()}")
    try:
        rt, Node, arr = small_heap(n=20000)
        try:
            with pytest.raises(SnapshotWriteError) as e:
                rt.snapshot(mnt / "s")
            assert e.value.errno == errno.ENOSPC
            assert not (mnt / "s").exists()
            check_values(arr, 20000)
            rt.verify()
        finally:
            rt.close()
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_stalls_are_reported_for_pages_served_from_staging(tmp_path):
    rt, Node, arr = small_heap()
    try:
        op = rt.snapshot(tmp_path / "s", wait=False, writer_delay_us=20_000, batch_bytes=64 << 10)
        for i in range(0, 4000, 40):
            arr[i].v = i                                 # each first touch: a fault served from staging
        rep = op.wait()
        assert rep.pages_served > 0
        assert len(rep.stalls_s) >= rep.pages_served and np.all(rep.stalls_s > 0)
        assert rep.as_dict()["stall_p99_s"] < 0.05
    finally:
        rt.close()


def test_threads_touching_the_heap_during_the_write_see_their_own_stores(tmp_path):
    rt, Node, arr = small_heap(n=8000)
    try:
        op = rt.snapshot(tmp_path / "s", wait=False, writer_delay_us=2000, batch_bytes=64 << 10)
        errors = []

        def worker(k):
            for i in range(k, 8000, 4):
                arr[i].v = i * 10
                if arr[i].v != i * 10:
                    errors.append(i)

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        op.wait()
        assert not errors
        assert all(arr[i].v == i * 10 for i in range(8000))
    finally:
        rt.close()


def test_a_meta_section_over_one_mib_is_read_whole(tmp_path):
    """The meta section (class and global root names, JSON) is read at its full size
    (it was cut at 1 MiB: the names past it were lost without a word)."""
    from gcheap.runtime.snapshot import info
    rt = gcheap.Runtime("64M")
    try:
        names = [f"root_{i:06d}_" + "x" * 80 for i in range(12000)]
        for i, n in enumerate(names):
            rt.globals[n] = None if i % 2 else rt.new_str(n[:12])
        rt.snapshot(tmp_path / "s")
    finally:
        rt.close()
    d = info(tmp_path / "s")
    assert d["meta_len"] > 1 << 20
    assert sorted(d["meta"]["globals"]) == sorted(names)
