"""gcheap.kernel.PageServer: missing faults served from a region (copy, move), zero
pages, poison and a file (pread, mmap, checksums), in SIGBUS and thread modes;
the owner's installs and source changes under the same claims; the background
filler and its CRIU-style chunks; a file that cannot be read back is fatal."""
from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
import threading
import time

import pytest

from gcheap import _lowlevel as ll
from gcheap.errors import InvalidArgument, RegionClosed
from gcheap.kernel import Chunk, PageServer, Region, dense_chunks, mremap_dontunmap, probe

pytestmark = pytest.mark.uffd
PS = ll.page_size()
MODES = ["sigbus", "thread"]


def eventually(fn, timeout: float = 10.0):
    """Thread mode: the faulting thread is woken by the install, before the fault
    thread publishes its statistics."""
    deadline = time.monotonic() + timeout
    while not fn():
        assert time.monotonic() < deadline
        time.sleep(0.001)


def page(i: int, seed: int = 0) -> bytes:
    return (i.to_bytes(4, "little") + bytes([seed & 0xFF]) * 4) * (PS // 8)


def filled(npages: int, seed: int = 0) -> Region:
    r = Region(npages * PS)
    for i in range(npages):
        r.write(i * PS, page(i, seed))
    return r


def staged(npages: int, seed: int = 0) -> tuple[Region, Region]:
    """A region whose pages were moved (DONTUNMAP) to a staging region."""
    r = filled(npages, seed)
    return r, mremap_dontunmap(r)


@pytest.mark.parametrize("mode", MODES)
def test_copy_serves_each_page_once_and_keeps_the_source(mode):
    r, st = staged(32)
    with PageServer(r, source="copy", region=st, mode=mode) as s:
        for i in (5, 0, 31, 5):
            assert r.read(i * PS, PS) == page(i)
        eventually(lambda: s.stats()["present"] == 3)
        stats = s.stats()
        assert stats["blocks_by_fault"] == 3 and stats["faults"] == 3
        assert s.block_state(5) == "present" and s.block_state(6) == "missing"
        assert st.read(5 * PS, PS) == page(5)               # copy: the source keeps its page
        eventually(lambda: len(s.stalls()) == 3)


@pytest.mark.parametrize("mode", MODES)
def test_move_takes_the_page_and_a_hole_becomes_a_zero_page(mode):
    r = Region(16 * PS)
    for i in range(16):
        if i != 7:                                          # page 7 never touched: a hole
            r.write(i * PS, page(i, 3))
    st = mremap_dontunmap(r)
    with PageServer(r, source="move", region=st, mode=mode, block_pages=4) as s:
        assert r.read(2 * PS, PS) == page(2, 3)
        assert st.read(2 * PS, PS) == bytes(PS)             # moved away: the source is empty
        assert st.read(9 * PS, PS) == page(9, 3)            # another block: still there
        assert r.read(7 * PS, PS) == bytes(PS)              # the hole
        assert r.read(6 * PS, PS) == page(6, 3)
        eventually(lambda: s.stats()["present"] == 2)       # blocks 0 and 1 (4 pages each)


@pytest.mark.parametrize("mode", MODES)
def test_zeropage(mode):
    r = filled(8, 9)
    with PageServer(r, source="zeropage", mode=mode) as s:
        assert r.read(0, 8 * PS) == bytes(8 * PS)           # arm() dropped the pages
        eventually(lambda: s.stats()["present"] == 8)


def test_poison_raises_sigbus_on_access():
    code = """
from gcheap.kernel import PageServer, Region
r = Region(4 * 4096)
s = PageServer(r, source="poison")
print("armed", flush=True)
r.read(4096, 8)
print("unreachable", flush=True)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.split() == ["armed"]
    assert p.returncode == -7, (p.returncode, p.stderr)     # SIGBUS


def write_file(path, npages: int, seed: int = 0) -> None:
    with open(path, "wb") as f:
        for i in range(npages):
            f.write(page(i, seed))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mmap", [False, True])
def test_file_source_dense_with_checksums(tmp_path, mode, mmap):
    path = tmp_path / "pages"
    write_file(path, 64, 5)
    r = Region(64 * PS)
    with PageServer(r, source="file", file=path, mode=mode, block_pages=16, verify=True, mmap=mmap) as s:
        assert r.read(17 * PS, PS) == page(17, 5)
        eventually(lambda: s.stats()["bytes_read"] == 16 * PS)   # one block: 16 pages
        s.fill()
        assert s.wait_filled(10)
        assert r.read(0, 64 * PS) == b"".join(page(i, 5) for i in range(64))
        st = s.stats()
        assert st["blocks_by_fault"] + st["blocks_installed"] == 4


def test_file_source_sparse_chunks_serve_zero_pages(tmp_path):
    """A chunk stores only its present pages, back to back; the others are zero."""
    path = tmp_path / "sparse"
    stored = {0: [1, 3], 1: [0, 1, 2, 3], 2: []}            # block -> stored pages (4-page blocks)
    chunks, off = [], 0
    with open(path, "wb") as f:
        for b in range(3):
            data = b"".join(page(b * 4 + i, 1) for i in stored[b])
            f.write(data)
            chunks.append(Chunk(off, ll.checksum(data), sum(1 << i for i in stored[b])))
            off += len(data)
    r = Region(12 * PS)
    with PageServer(r, source="file", file=path, chunks=chunks, block_pages=4, verify=True):
        for p in range(12):
            b, i = divmod(p, 4)
            want = page(p, 1) if i in stored[b] else bytes(PS)
            assert r.read(p * PS, PS) == want, p


FATAL = """
import os, sys
from gcheap.kernel import PageServer, Region, dense_chunks
path = sys.argv[1]
with open(path, "wb") as f:
    f.write(b"x" * (16 * 4096))
chunks = dense_chunks(path, 4, 4 * 4096)
r = Region(16 * 4096)
s = PageServer(r, source="file", file=path, chunks=chunks, block_pages=4, verify=True, mode=sys.argv[3])
if sys.argv[2] == "truncate":
    os.truncate(path, 4096)
else:
    with open(path, "r+b") as f:
        f.seek(9 * 4096 + 17); f.write(b"y")
print(r.read(0, 4)[:1].decode(), flush=True)       # block 0: intact in both cases
r.read(8 * 4096, 4)                                # block 2: truncated away or corrupt
print("unreachable", flush=True)
"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
def test_a_file_that_cannot_be_read_back_is_fatal_not_zeros(tmp_path, damage, mode):
    p = subprocess.run([sys.executable, "-c", FATAL, str(tmp_path / "f"), damage, mode],
                       capture_output=True, text=True, timeout=60)
    if damage == "truncate":
        # block 0 is read before the truncation bites only if it comes first: it does
        pass
    assert "unreachable" not in p.stdout
    assert p.returncode == -6, (p.returncode, p.stderr)      # abort()
    assert "gcheap page server: FATAL" in p.stderr
    assert ("ended early" if damage == "truncate" else "checksum mismatch") in p.stderr
    assert str(tmp_path / "f") in p.stderr


def test_filler_grows_its_chunk_while_no_fault_arrives():
    r, st = staged(4096)                                    # 16 MiB: 64 KiB + 128 KiB + ... passes 1 MiB
    with PageServer(r, source="copy", region=st, block_pages=16) as s:
        s.fill(64 << 10, 1 << 20)
        assert s.wait_filled(30)
        stats = s.stats()
        assert stats["filler_state"] == "done" and stats["faults"] == 0
        assert stats["filler_max_chunk"] == 1 << 20         # 64 KiB, 128 KiB, ... up to the maximum
        assert stats["filler_resets"] == 0
        assert stats["blocks_installed"] == 256
        assert r.read(0, 4096 * PS) == st.read(0, 4096 * PS)


@pytest.mark.parametrize("mode", MODES)
def test_faults_racing_the_filler_install_every_block_exactly_once(mode):
    n = 2048
    r, st = staged(n, 7)
    with PageServer(r, source="copy", region=st, mode=mode, block_pages=4) as s:
        errors = []

        def reader(seed):
            rnd = random.Random(seed)
            for _ in range(300):
                p = rnd.randrange(n)
                if r.read(p * PS, PS) != page(p, 7):
                    errors.append(p)

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        s.fill(16 << 10, 256 << 10)
        for t in threads:
            t.join()
        assert s.wait_filled(30)
        assert not errors
        stats = s.stats()
        assert stats["present"] == n // 4
        assert stats["blocks_by_fault"] + stats["blocks_installed"] == n // 4
        assert stats["blocks_by_fault"] > 0


def test_a_dead_filler_does_not_hang_the_wait():
    r, st = staged(256)
    with PageServer(r, source="copy", region=st) as s:
        s.inject("filler_dies", 3)
        s.fill(4 * PS, 4 * PS)
        assert s.wait_filled(30)                             # finished by the waiting thread
        assert s.stats()["filler_state"] == "died"
        assert r.read(0, 256 * PS) == st.read(0, 256 * PS)


def test_a_failing_install_is_retried():
    r, st = staged(4)
    with PageServer(r, source="copy", region=st) as s:
        s.inject("install", 1, 12)                          # ENOMEM once
        assert r.read(PS, PS) == page(1)
        eventually(lambda: s.stats()["errors"] == 1)


@pytest.mark.parametrize("mode", MODES)
def test_owner_installs_by_move_and_switches_sources_to_a_file(tmp_path, mode):
    """The snapshot writer's protocol (install by move, drop what faults copied)
    and swap-out's (a written block's source becomes the file, the staged pages go)."""
    r, st = staged(32, 4)
    with PageServer(r, source="copy", region=st, mode=mode, block_pages=4) as s:
        assert r.read(0, PS) == page(0, 4)                  # block 0 copied by a fault
        assert s.install(0, 2, how="move", drop_present=True) == 1   # block 1 moved back
        assert st.read(0, 8 * PS) == bytes(8 * PS)         # both released from the source
        assert r.read(4 * PS, 4 * PS) == b"".join(page(i, 4) for i in range(4, 8))
        # blocks 2..7 go to a file that holds them
        path = tmp_path / "swap"
        with open(path, "wb") as f:
            f.write(st.read(8 * PS, 24 * PS))
    r2, st2 = staged(32, 4)
    chunks = [Chunk(0, 0, 0xF)] * 2 + dense_chunks(path, 6, 4 * PS)
    with PageServer(r2, source="copy", region=st2, file=path, chunks=chunks, mode=mode, block_pages=4,
                    verify=True) as s:
        assert r2.read(9 * PS, 8) == page(9, 4)[:8]        # block 2: present (copied)
        mask = s.set_source(2, 6, "file", drop_region=True)
        assert mask == 1                                    # block 2 was present
        assert st2.read(12 * PS, 20 * PS) == bytes(20 * PS)  # staged pages released
        assert r2.read(12 * PS, 20 * PS) == b"".join(page(i, 4) for i in range(12, 32))
        eventually(lambda: s.stats()["bytes_read"] == 5 * 4 * PS)


def test_without_the_move_feature_installing_by_move_is_refused_up_front():
    """A server whose userfaultfd lacks UFFD_FEATURE_MOVE (Linux < 6.8; here masked)
    says so, and refuses a move at once instead of retrying until the fatal message."""
    r, st = staged(8)
    ll.ps_mask_features(ll.FEATURE_MOVE)
    try:
        with pytest.raises(OSError) as e:
            PageServer(r, source="move", region=st)
        assert e.value.errno == errno.EOPNOTSUPP
        with PageServer(r, source="copy", region=st) as s:
            assert not ll.ps_features(s._ps) & ll.FEATURE_MOVE
            with pytest.raises(OSError) as e:
                s.install(0, 8, how="move")
            assert e.value.errno == errno.EOPNOTSUPP
            with pytest.raises(OSError) as e:
                s.set_source(0, 8, "move")
            assert e.value.errno == errno.EOPNOTSUPP
            assert s.install(0, 8, how="copy") == 8 and r.read(3 * PS, PS) == page(3)
    finally:
        ll.ps_mask_features(0)
    with PageServer(Region(8 * PS), source="copy", region=st) as s:
        assert bool(ll.ps_features(s._ps) & ll.FEATURE_MOVE) == ("move" in probe().features)


@pytest.mark.parametrize("mode", MODES)
def test_wp_tracks_the_pages_written_since_install(mode):
    r, st = staged(16)
    with PageServer(r, source="copy", region=st, mode=mode, wp=True) as s:
        assert r.read(3 * PS, 4) == page(3)[:4]
        r.write(5 * PS + 8, b"abcd")                        # missing: installed, then a WP fault
        r.write(3 * PS, b"wxyz")
        assert s.dirty_pages() == [3, 5]
        assert r.read(5 * PS + 8, 4) == b"abcd"
        assert s.dirty_pages(clear=True) == [3, 5] and s.dirty_pages() == []
        r.write(3 * PS, b"more")                            # unprotected now: no new fault
        assert s.dirty_pages() == []


def test_disarm_leaves_missing_pages_as_ordinary_memory_and_close_is_final():
    r, st = staged(8)
    s = PageServer(r, source="copy", region=st)
    assert r.read(0, 8) == page(0)[:8]
    s.disarm()
    assert r.read(PS, 8) == bytes(8)                        # not served any more: zero fill
    s.close()
    with pytest.raises(RegionClosed):
        s.stats()


def test_bad_arguments_are_rejected_before_anything_is_mapped(tmp_path):
    r = Region(8 * PS)
    with pytest.raises(InvalidArgument):
        PageServer(r, source="copy")                        # no region
    with pytest.raises(InvalidArgument):
        PageServer(r, source="file")                        # no file
    with pytest.raises(InvalidArgument):
        PageServer(r, source="copy", region=Region(8 * PS), block_pages=3)
    with pytest.raises(InvalidArgument):
        PageServer(r, source="copy", region=Region(8 * PS), block_pages=16)   # 8 pages: not whole blocks
    with pytest.raises(InvalidArgument):
        PageServer(r, source="teleport", region=Region(8 * PS))
    r.write(0, b"kept")
    assert r.read(0, 4) == b"kept"                          # nothing was registered


def test_checksum_is_xxhash64():
    assert ll.checksum(b"") == 0xEF46DB3751D8E999           # XXH64("", seed 0)
    assert ll.checksum(bytes(32)) != ll.checksum(bytes(64))
