"""mremap(MREMAP_DONTUNMAP) conformance: the scenarios of the kernel's
selftests/mm/mremap_dontunmap.c and the semantics of the original patch."""
from __future__ import annotations

import errno
import os
import pytest

from tests.support.uffd import reading, require_uffd, smaps_entry
from gcheap import _lowlevel as ll
from gcheap.errors import InvalidArgument, KernelError, RegionClosed
from gcheap.kernel import (MREMAP_DONTUNMAP, MREMAP_MAYMOVE, PageFault, Region, Userfaultfd,
                           mremap_dontunmap)

PS = ll.page_size()


def pattern(n_pages: int, seed: int) -> bytes:
    """Page i holds bytes (seed + i) so a misplaced page is visible."""
    return b"".join(bytes([(seed + i) & 0xFF]) * PS for i in range(n_pages))


@pytest.fixture(autouse=True)
def _need_dontunmap():
    require_uffd()


def test_simple_move_source_reads_zeros_destination_holds_data():
    with Region(5 * PS) as src:
        src.write(0, pattern(5, 1))
        with mremap_dontunmap(src) as dst:
            assert dst.address != src.address and dst.size == src.size
            assert dst.read(0, 5 * PS) == pattern(5, 1)
            assert src.read(0, 5 * PS) == bytes(5 * PS)
            src.write(0, b"still mapped")       # same size, same protection
            assert src.read(0, 12) == b"still mapped"


def test_shmem_source_still_sees_the_file():
    fd, addr = ll.map_memfd(4 * PS)
    dst = 0
    try:
        ll.write_memory(addr, pattern(4, 7))
        try:
            dst = ll.mremap_raw(addr, 4 * PS, 4 * PS, MREMAP_MAYMOVE | MREMAP_DONTUNMAP)
        except KernelError as e:
            if e.errno == errno.EINVAL:
                pytest.skip("DONTUNMAP of shared mappings needs Linux >= 5.13")
            raise
        assert ll.read_memory(dst, 4 * PS) == pattern(4, 7)
        assert ll.read_memory(addr, 4 * PS) == pattern(4, 7)     # page cache refaults
        ll.write_memory(dst, b"X")                                # one file, two views
        assert ll.read_memory(addr, 1) == b"X"
    finally:
        ll.unmap(addr, 4 * PS)
        if dst:
            ll.unmap(dst, 4 * PS)
        os.close(fd)


def test_fixed_destination_over_an_existing_mapping():
    with Region(4 * PS) as src, Region(4 * PS) as old:
        src.write(0, pattern(4, 20))
        old.write(0, pattern(4, 90))
        old_address = old.address
        moved = mremap_dontunmap(src, old)
        assert moved.address == old_address and moved.owner
        assert old.closed                       # its mapping was replaced
        assert moved.read(0, 4 * PS) == pattern(4, 20)
        assert src.read(0, 4 * PS) == bytes(4 * PS)
        moved.close()


def test_partial_mapping_moves_the_last_half():
    with Region(8 * PS) as src:
        src.write(0, pattern(8, 40))
        moved = mremap_dontunmap(src.slice(4 * PS, 4 * PS))
        assert moved.read(0, 4 * PS) == pattern(8, 40)[4 * PS:]
        assert src.read(0, 4 * PS) == pattern(8, 40)[:4 * PS]
        assert src.read(4 * PS, 4 * PS) == bytes(4 * PS)
        moved.close()


def test_partial_overwrite_onto_the_start_of_a_larger_mapping():
    with Region(4 * PS) as src, Region(10 * PS) as big:
        src.write(0, pattern(4, 60))
        big.write(0, b"\xbb" * 10 * PS)
        moved = mremap_dontunmap(src, big.address)
        assert moved.address == big.address and not moved.owner   # big still owns it
        assert big.read(0, 4 * PS) == pattern(4, 60)
        assert big.read(4 * PS, 6 * PS) == b"\xbb" * 6 * PS
        assert src.read(0, 4 * PS) == bytes(4 * PS)
        moved.close()                           # a view: big's memory stays
        assert big.read(0, 1) == pattern(4, 60)[:1]


@pytest.mark.parametrize("case", ["size mismatch", "no MAYMOVE", "unaligned"])
def test_invalid_calls_fail_with_einval_and_leave_the_source_intact(case):
    with Region(4 * PS) as src:
        src.write(0, pattern(4, 3))
        addr, old_len, new_len, flags = src.address, 4 * PS, 4 * PS, MREMAP_MAYMOVE | MREMAP_DONTUNMAP
        if case == "size mismatch":
            new_len = 8 * PS
        elif case == "no MAYMOVE":
            flags = MREMAP_DONTUNMAP
        else:
            addr += 1
        with pytest.raises(KernelError) as e:
            ll.mremap_raw(addr, old_len, new_len, flags)
        assert e.value.errno == errno.EINVAL and "mremap" in str(e.value)
        assert src.read(0, 4 * PS) == pattern(4, 3)


def test_python_validation_happens_before_acting():
    with Region(4 * PS) as src, Region(8 * PS) as other:
        src.write(0, pattern(4, 5))
        with pytest.raises(InvalidArgument):
            mremap_dontunmap(src, src.address + PS)            # overlaps the source
        with pytest.raises(InvalidArgument):
            mremap_dontunmap(src, other.address + 1)           # unaligned
        with pytest.raises(InvalidArgument):
            mremap_dontunmap(src, other)                       # size mismatch
        fd, foreign = ll.map_memfd(4 * PS)                     # not a gcheap Region
        try:
            with pytest.raises(InvalidArgument):
                mremap_dontunmap(src, foreign)
        finally:
            ll.unmap(foreign, 4 * PS)
            os.close(fd)
        assert src.read(0, 4 * PS) == pattern(4, 5)
        assert other.read(0, 8) == bytes(8)


def test_userfaultfd_registered_on_the_source_keeps_watching_it():
    with Region(4 * PS) as src, Userfaultfd() as uffd:
        src.write(0, pattern(4, 11))
        uffd.register(src)
        moved = mremap_dontunmap(src)
        with reading(src, PS, PS, uffd) as reader:     # blocks in C on the missing page
            events = uffd.read_events(timeout=5)
            assert events and isinstance(events[0], PageFault)
            assert events[0].address & ~(PS - 1) == src.address + PS
            assert uffd.copy(src.address + PS, moved.address + PS, PS) == PS
            assert reader.result() == pattern(4, 11)[PS:2 * PS]
        moved.close()


def test_vm_locked_is_cleared_on_the_source_of_an_mlocked_mapping():
    with Region(4 * PS) as src:
        src.write(0, pattern(4, 2))
        try:
            ll.mlock(src.address, src.size)
        except KernelError as e:
            pytest.skip(f"mlock not allowed here: {e}")
        assert "lo" in smaps_entry(src.address)["VmFlags"].split()
        moved = mremap_dontunmap(src)
        assert "lo" not in smaps_entry(src.address)["VmFlags"].split()
        assert "lo" in smaps_entry(moved.address)["VmFlags"].split()
        assert moved.read(0, 4 * PS) == pattern(4, 2)
        ll.munlock(moved.address, moved.size)
        moved.close()


def test_the_source_range_stays_reserved():
    with Region(4 * PS) as src:
        moved = mremap_dontunmap(src)
        with pytest.raises(KernelError) as e:
            ll.map_anon_noreplace(src.address, src.size)
        assert e.value.errno == errno.EEXIST
        moved.close()


def test_slice_of_closed_region_raises_instead_of_touching_unmapped_memory():
    r = Region(16 * 4096)
    s = r.slice(4096, 4096)
    s.write(0, b"abc")
    assert s.read(0, 3) == b"abc"
    r.close()
    assert s.closed
    with pytest.raises(RegionClosed):
        s.read(0, 3)
    with pytest.raises(RegionClosed):
        s.write(0, b"x")
    s.close()           # still a no-op, not an unmap
