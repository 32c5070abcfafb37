"""userfaultfd conformance: the scenarios of selftests/mm/uffd-unit-tests.c,
driven through gcheap.kernel."""
from __future__ import annotations

import errno
import os
import threading
import time

import pytest

from tests.support.uffd import reading, require_uffd, smaps_entry
from gcheap import _lowlevel as ll
from gcheap.errors import InvalidArgument, KernelError, RegionClosed, UffdPageExists, UffdPartial
from gcheap.kernel import (MADV_DONTNEED, MADV_HUGEPAGE, MREMAP_FIXED, MREMAP_MAYMOVE, Fork,
                           PageFault, Region, Remap, Remove, Unmap, Userfaultfd)

PS = ll.page_size()
HPAGE = 2 << 20


def pattern(n_pages: int, seed: int) -> bytes:
    return b"".join(bytes([(seed + i) & 0xFF]) * PS for i in range(n_pages))


# ---- handshake

def test_api_handshake_rejects_wrong_api_and_unknown_features():
    require_uffd()
    def fresh() -> int:
        fd, _, _ = ll.uffd_open_raw(ll.OPEN_USER_MODE_ONLY | ll.OPEN_NONBLOCK)
        assert fd >= 0
        return fd
    fd = fresh()
    try:
        with pytest.raises(KernelError) as e:
            ll.uffd_api(fd, 0, api=0xAB)
        assert e.value.errno == errno.EINVAL
    finally:
        ll.close_fd(fd)
    fd = fresh()
    try:
        with pytest.raises(KernelError) as e:
            ll.uffd_api(fd, 1 << 62)
        assert e.value.errno == errno.EINVAL
    finally:
        ll.close_fd(fd)
    fd = fresh()
    try:
        features, ioctls = ll.uffd_api(fd, 0)
        assert features & (1 << 7), "features=0 reports every supported feature (sigbus here)"
        assert ioctls & (1 << 0x3F) and ioctls & 1      # API, REGISTER
        with pytest.raises(KernelError):                 # once per fd
            ll.uffd_api(fd, 0)
    finally:
        ll.close_fd(fd)


def test_python_handshake_asks_only_for_requested_features():
    caps = require_uffd("thread_id")
    with Userfaultfd(["thread_id"]) as uffd:
        assert uffd.features == {"thread_id"}
        assert uffd.kernel_features == caps.features
        assert uffd.fileno() >= 0 and uffd.via in ("syscall", "dev")
    with pytest.raises(RegionClosed):
        uffd.fileno()
    with pytest.raises(InvalidArgument):
        Userfaultfd(["no_such_feature"])


# ---- registration

def test_register_reports_the_ioctls_of_each_mode():
    caps = require_uffd()
    with Region(4 * PS) as r, Userfaultfd() as uffd:
        ioctls = uffd.register(r)
        assert {"copy", "zeropage", "wake"} <= ioctls
        assert ("move" in ioctls) == ("move" in caps.features)
        assert ("poison" in ioctls) == ("poison" in caps.features)
        assert "continue" not in ioctls
        uffd.unregister(r)
        with pytest.raises(KernelError) as e:            # MINOR is for shmem/hugetlbfs only
            uffd.register(r, missing=False, minor=True)
        assert e.value.errno == errno.EINVAL
    if "pagefault_flag_wp" in caps.features:
        with Region(4 * PS) as r, Userfaultfd(["pagefault_flag_wp"]) as uffd:
            assert "writeprotect" in uffd.register(r, missing=False, wp=True)
    if "minor_shmem" in caps.features:
        fd, addr = ll.map_memfd(4 * PS)
        try:
            with Userfaultfd(["minor_shmem"]) as uffd:
                ioctls = uffd.register(addr, 4 * PS, missing=False, minor=True)
                assert "continue" in ioctls
        finally:
            ll.unmap(addr, 4 * PS)
            os.close(fd)


# ---- resolving

def test_zeropage_then_eexist_on_repeat():
    require_uffd()
    with Region(3 * PS) as r, Userfaultfd() as uffd:
        uffd.register(r)
        assert uffd.zeropage(r.address + PS, PS) == PS
        with pytest.raises(UffdPageExists) as e:
            uffd.zeropage(r.address + PS, PS)
        assert e.value.errno == errno.EEXIST and e.value.done == 0
        with pytest.raises(UffdPageExists) as e:       # page 0 done, page 1 present
            uffd.zeropage(r.address, 3 * PS)
        assert e.value.done == PS
        assert isinstance(e.value, FileExistsError)
        assert r.read(0, 2 * PS) == bytes(2 * PS)


def test_bad_ranges_are_errors_never_byte_counts():
    require_uffd()
    with Region(2 * PS) as r, Userfaultfd() as uffd:
        uffd.register(r)
        with pytest.raises(KernelError) as e:
            uffd.copy(r.address + 1, b"x" * PS)
        assert e.value.errno == errno.EINVAL
        with pytest.raises(InvalidArgument):
            uffd.copy(r.address, b"x" * PS, 2 * PS)


def test_copy_resolves_a_missing_fault():
    require_uffd("thread_id")
    with Region(4 * PS) as r, Userfaultfd(["thread_id"]) as uffd:
        uffd.register(r)
        with reading(r, 2 * PS, PS, uffd) as reader:
            [fault] = uffd.read_events(timeout=5)
            assert isinstance(fault, PageFault) and not fault.write and not fault.wp
            assert fault.address & ~(PS - 1) == r.address + 2 * PS
            assert fault.thread_id == reader.thread_id
            assert uffd.copy(r.address + 2 * PS, pattern(1, 77)) == PS
            assert reader.result() == pattern(1, 77)


def test_write_fault_is_flagged():
    require_uffd()
    with Region(PS) as r, Userfaultfd() as uffd:
        uffd.register(r)
        writer = threading.Thread(target=r.write, args=(0, b"w"), daemon=True)
        writer.start()
        try:
            [fault] = uffd.read_events(timeout=5)
            assert fault.write
            uffd.zeropage(r.address, PS)
            writer.join(5)
            assert not writer.is_alive() and r.read(0, 1) == b"w"
        finally:
            uffd.close()
            writer.join(5)


def test_move_resolves_a_missing_fault():
    require_uffd("move")
    with Region(4 * PS) as r, Region(4 * PS) as src, Userfaultfd(["move"]) as uffd:
        src.write(0, pattern(4, 30))
        uffd.register(r)
        with reading(r, PS, PS, uffd) as reader:
            [fault] = uffd.read_events(timeout=5)
            assert fault.address & ~(PS - 1) == r.address + PS
            assert uffd.move(r.address + PS, src.address + PS, PS) == PS
            assert reader.result() == pattern(4, 30)[PS:2 * PS]
        assert src.read(PS, PS) == bytes(PS)             # the page left the source
        assert src.read(0, PS) == pattern(4, 30)[:PS]


def _huge_source(seed: int) -> Region:
    src = Region(HPAGE, align=HPAGE)
    ll.madvise(src.address, HPAGE, MADV_HUGEPAGE)
    src.write(0, pattern(HPAGE // PS, seed))
    return src


def test_pmd_sized_copy_resolves_a_fault():
    require_uffd()
    with Region(HPAGE, align=HPAGE) as r, _huge_source(5) as src, Userfaultfd() as uffd:
        ll.madvise(r.address, HPAGE, MADV_HUGEPAGE)
        uffd.register(r)
        ll.madvise(r.address, HPAGE, MADV_DONTNEED)      # no huge zero page slips in first
        with reading(r, HPAGE - PS, PS, uffd) as reader:
            [fault] = uffd.read_events(timeout=5)
            assert r.address <= fault.address < r.address + HPAGE
            assert uffd.copy(r.address, src.address, HPAGE) == HPAGE
            assert reader.result() == src.read(HPAGE - PS, PS)
        assert r.read(0, HPAGE) == src.read(0, HPAGE)


def test_pmd_sized_move_moves_a_huge_page():
    caps = require_uffd("move")
    if caps.thp not in ("always", "madvise"):
        pytest.skip(f"transparent huge pages are {caps.thp}")
    with Region(HPAGE, align=HPAGE) as r, _huge_source(9) as src, Userfaultfd(["move"]) as uffd:
        expect = src.read(0, HPAGE)
        src_huge = smaps_entry(src.address).get("AnonHugePages", "0 kB")
        # THP on the destination too: the fault is then taken at PMD level and
        # no page table is allocated under it, so the whole PMD can move in.
        ll.madvise(r.address, HPAGE, MADV_HUGEPAGE)
        uffd.register(r)
        ll.madvise(r.address, HPAGE, MADV_DONTNEED)
        with reading(r, 0, PS, uffd) as reader:
            uffd.read_events(timeout=5)
            assert uffd.move(r.address, src.address, HPAGE) == HPAGE
            assert reader.result() == expect[:PS]
        assert r.read(0, HPAGE) == expect
        if src_huge == "2048 kB":                        # the kernel moved the PMD whole
            assert smaps_entry(r.address)["AnonHugePages"] == "2048 kB"
        else:
            pytest.skip(f"no huge page was allocated for the source ({src_huge}): content checked only")


def test_sigbus_mode_resolves_in_the_faulting_thread():
    from gcheap.kernel import SigbusService

    require_uffd("sigbus")
    with Region(8 * PS) as r, Region(8 * PS) as image, Userfaultfd(["sigbus"]) as uffd:
        image.write(0, pattern(8, 50))
        uffd.register(r)
        with SigbusService(uffd, r, source=image.address, how="copy") as svc:
            box = {}
            def reader():
                box["tid"] = threading.get_native_id()
                box["data"] = r.read(0, 8 * PS)
            t = threading.Thread(target=reader)
            t.start()
            t.join(10)
            assert not t.is_alive()
            stats = svc.stats()
        assert box["data"] == pattern(8, 50)
        assert stats["served"] == 8 and stats["errors"] == 0
        assert stats["last_tid"] == box["tid"]           # resolved in the faulting thread
        assert uffd.read_events(timeout=0) == []         # nothing queued in SIGBUS mode


def test_sigbus_mode_zeropage_and_handler_stays_installed():
    from gcheap.kernel import SigbusService, sigbus_handler_installed

    require_uffd("sigbus")
    with Region(4 * PS) as r, Userfaultfd(["sigbus"]) as uffd:
        uffd.register(r)
        with SigbusService(uffd, r, how="zeropage") as svc:
            assert sigbus_handler_installed()
            assert r.read(0, 4 * PS) == bytes(4 * PS)    # main thread faults and serves itself
        assert svc.stats()["served"] == 4


def test_sigbus_that_is_not_ours_is_chained():
    """A real bus error outside every served range reaches the previous handler
    (faulthandler here) instead of being swallowed or looping."""
    require_uffd("sigbus")
    import subprocess
    import sys
    code = (
        "import os\n"
        "from gcheap import _lowlevel as ll\n"
        "from gcheap.kernel import Region, Userfaultfd, SigbusService\n"
        "r = Region(4096); u = Userfaultfd(['sigbus']); u.register(r)\n"
        "s = SigbusService(u, r, how='zeropage')\n"
        "fd, addr = ll.map_memfd(4096); os.ftruncate(fd, 0)\n"
        "ll.read_memory(addr, 1)\n"
        "print('survived')\n")
    for args, expect in ((["-X", "faulthandler"], "Bus error"), ([], None)):
        p = subprocess.run([sys.executable, *args, "-c", code], capture_output=True, text=True, timeout=30)
        assert p.returncode == -7, (p.returncode, p.stderr)           # killed by SIGBUS
        assert "survived" not in p.stdout
        if expect:
            assert expect in p.stderr


# ---- events

def test_fork_remap_remove_unmap_events():
    require_uffd(["event_fork", "event_remap", "event_remove", "event_unmap"])
    size = 4 * PS
    area = ll.map_anon(size)
    target = ll.reserve(size)
    events: list = []
    stop = threading.Event()
    with Userfaultfd(["event_fork", "event_remap", "event_remove", "event_unmap"]) as uffd:
        ll.write_memory(area, pattern(4, 1))             # populated first: no page faults below
        uffd.register(area, size)

        waiting = threading.Event()

        def monitor():                                   # each event blocks its cause until read
            while not stop.is_set():
                waiting.set()
                events.extend(uffd.read_events(timeout=0.2))
        t = threading.Thread(target=monitor, daemon=True)
        t.start()
        try:
            # The forking thread waits in the kernel until the monitor reads the
            # event, holding glibc's malloc locks: the monitor must already be
            # inside read_events (in C) then, and the fork must not hold the GIL.
            waiting.wait(5)
            time.sleep(0.02)
            ll.fork_and_reap_child()
            moved = ll.mremap_raw(area, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, target)
            ll.madvise(moved, PS, MADV_DONTNEED)
            ll.unmap(moved + 2 * PS, 2 * PS)
            ll.unmap(moved, 2 * PS)
        finally:
            stop.set()
            t.join(5)
    assert events and isinstance(events[0], Fork), events
    os.close(events[0].uffd)                             # the child's uffd, installed in us
    # In causal order. The kernel may add an Unmap of the old range after the
    # Remap (6.x does: the old VMA still carries the context when it is unmapped).
    expected = [Remap(area, target, size), Remove(target, target + PS),
                Unmap(target + 2 * PS, target + 4 * PS), Unmap(target, target + 2 * PS)]
    rest = iter(events[1:])
    for want in expected:
        assert any(e == want for e in rest), f"{want} missing or out of order in {events}"
    extra = [e for e in events[1:] if e not in expected]
    assert all(isinstance(e, Unmap) and e.start == area for e in extra), extra


def test_user_mode_only_fd_refuses_a_kernel_mode_access():
    require_uffd()
    with Region(PS) as r, Userfaultfd(user_mode_only=True) as uffd:
        if not uffd.user_mode_only:
            pytest.skip("UFFD_USER_MODE_ONLY needs Linux >= 5.11")
        uffd.register(r)
        rfd, wfd = os.pipe()
        try:
            os.write(wfd, b"kernel writes here")
            with pytest.raises(KernelError) as e:
                ll.fd_read_into(rfd, r.address, 18)      # read(2) into a missing page
            assert e.value.errno == errno.EFAULT
            uffd.zeropage(r.address, PS)
            assert ll.fd_read_into(rfd, r.address, 18) == 18
            assert r.read(0, 18) == b"kernel writes here"
        finally:
            os.close(rfd)
            os.close(wfd)


def test_region_rejects_bad_input():
    with pytest.raises(InvalidArgument):
        Region(0)
    with pytest.raises(InvalidArgument):
        Region(PS, align=3 * PS)
    r = Region(PS)
    with pytest.raises(InvalidArgument):
        r.read(PS - 1, 2)
    with pytest.raises(InvalidArgument):
        r.write(-1, b"x")
    r.close()
    with pytest.raises(RegionClosed):
        r.read(0, 1)
    r.close()                                            # idempotent


def test_numpy_view_and_alignment():
    with Region(3 * HPAGE, align=HPAGE) as r:
        assert r.address % HPAGE == 0 and r.size == 3 * HPAGE
        a = r.numpy("u8")
        a[:] = 7
        assert r.read(0, 8) == (7).to_bytes(8, "little")
        del a


def test_eagain_while_an_event_is_unread_is_surfaced_with_the_partial_count():
    """While a REMOVE event waits to be read the mm is "changing": UFFDIO_COPY
    answers EAGAIN. The bounded retry gives up and raises UffdPartial with
    done == 0 (never a negative count); after the event is read the copy works."""
    require_uffd("event_remove")
    n = 64
    with Region(n * PS) as r, Userfaultfd(["event_remove"]) as uffd:
        r.write(0, pattern(1, 1))                        # page 0 present, the rest missing
        uffd.register(r)
        remover = threading.Thread(target=ll.madvise, args=(r.address, PS, MADV_DONTNEED), daemon=True)
        remover.start()                                  # blocks in the kernel until the event is read
        try:
            time.sleep(0.05)
            partial = None
            for page in range(1, n):                     # a copy that lands before the event is queued succeeds
                try:
                    uffd.copy(r.address + page * PS, pattern(1, page))
                except UffdPartial as e:
                    partial = (page, e)
                    break
            assert partial is not None, "UFFDIO_COPY never saw the pending event"
            page, e = partial
            assert e.errno == errno.EAGAIN and e.done == 0 and isinstance(e, BlockingIOError)
            assert remover.is_alive()
            [ev] = uffd.read_events(timeout=5)
            assert ev == Remove(r.address, r.address + PS)
            remover.join(5)
            assert not remover.is_alive()
            assert uffd.copy(r.address + page * PS, pattern(1, 7)) == PS
            assert r.read(page * PS, PS) == pattern(1, 7)
        finally:
            uffd.close()
            remover.join(5)
