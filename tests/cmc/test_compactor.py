"""The concurrent machinery (csrc/cmc) with the XOR page builder: every
destination page p must equal from-space page p XOR the pattern, built exactly
once, whoever builds it (GC worker or faulting mutator), in every mode."""
from __future__ import annotations

import errno
import sys
import threading

import pytest

from gcheap import _lowlevel as ll
from gcheap.cmc import PAGE, CmcOptions, Compactor
from gcheap.errors import AddressRangeStolen, InvalidArgument, KernelError, UffdUnavailable

from tests.support.cmc import SEED, eventually, mutate_concurrently, region, undo_mutations  # noqa: F401
from tests.support.maps import assert_one_mapping, covering, mappings

pytestmark = pytest.mark.uffd

STRESS = __import__("os").environ.get("GCHEAP_STRESS") == "1"
MODES = [(f, i, t) for f in ("sigbus", "thread") for i in ("copy", "move", "auto") for t in (1, 2)]


@pytest.mark.parametrize("fault_mode,install,gc_threads", MODES)
def test_cycle_builds_every_page_once(region, fault_mode, install, gc_threads):
    addr, size = region
    opts = CmcOptions(fault_mode=fault_mode, install=install, gc_threads=gc_threads, worker_delay_us=20000)
    with Compactor(addr, size, opts) as cm:
        for cycle in range(2):
            cm.flip()
            ts = mutate_concurrently(addr, size)
            for t in ts:
                t.join()
            cm.wait()
            st = cm.stats()
            n = size // PAGE
            assert st["pages_by_gc"] + st["pages_by_mutator"] == n
            assert st["moved_bytes"] == size
            assert st["last_error"] == 0 and st["worker_failures"] == 0
            assert st["pages_by_mutator"] > 0
            assert not cm.active
            undo_mutations(addr, size)
            pattern = cm.pattern if cycle == 0 else 0   # two xors cancel
            assert ll.cmc_test_check(addr, size, SEED, pattern) == -1
            assert_one_mapping(addr, size)
            if install == "move":
                assert st["install"] == 1 and st["ioctl_move"] > 0 and st["ioctl_copy"] == 0


@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
def test_mutators_build_pages_and_stalls_are_logged(region, fault_mode):
    addr, size = region
    with Compactor(addr, size, CmcOptions(fault_mode=fault_mode, run_pages=8, worker_delay_us=20000)) as cm:
        cm.flip()
        # Touch from the top down while the worker sweeps bottom-up.
        times = ll.cmc_test_touch(addr + size - 64 * PAGE, 64, 1)
        cm.wait()
        st = cm.stats()
        assert st["pages_by_mutator"] > 0 and st["faults"] > 0
        stalls = cm.stalls()
        assert len(stalls) == st["stalls"] and (stalls > 0).all()
        assert times.max() > 0
        assert ll.cmc_test_check(addr, size, SEED, cm.pattern) == -1


def test_used_range_and_zero_pages(region):
    """Pages [n_build, used) are served as zero pages; above used nothing moves."""
    addr, size = region
    with Compactor(addr, size, CmcOptions(worker_delay_us=20000)) as cm:
        used, n_build = size // 2, size // PAGE // 4
        cm.flip(used_len=used, n_build=n_build)
        ll.cmc_test_touch(addr + n_build * PAGE, 10, 3)     # zero-page faults
        cm.wait()
        assert ll.cmc_test_check(addr, n_build * PAGE, SEED, cm.pattern) == -1
        zero = ll.read_memory(addr + n_build * PAGE, used - n_build * PAGE)
        assert zero == bytes(len(zero))
        assert ll.cmc_test_check(addr + used, size - used, SEED, 0) == -1
        assert cm.stats()["zero_pages"] >= 1
        # A partial flip leaves the heap split in two VMAs (the moved part got a
        # fresh anon_vma), which is why the runtime always flips its whole heap.
        cov = covering(addr, size)
        assert all(p == "rw-p" for _, _, p in cov) and cov[0][0] <= addr and cov[-1][1] >= addr + size
        assert all(a[1] == b[0] for a, b in zip(cov, cov[1:]))


@pytest.mark.parametrize("install", ["copy", "move"])
def test_release_keeps_peak_rss_near_before(install):
    """From-space does not pile up: install=copy releases it in batches behind
    the installs; install=move recycles its pages as the pages it builds and
    moves in (and releases the rest)."""
    size = 64 << 20
    addr = ll.map_anon(size, 2 << 20)
    try:
        ll.cmc_test_fill(addr, size, SEED)
        with Compactor(addr, size, CmcOptions(release_batch_pages=64, install=install)) as cm:
            cm.flip()
            cm.wait()
            st = cm.stats()
            given_back = st["released_bytes"] + st.get("recycled_pages", 0) * PAGE
            if install == "copy" or st["move_fallback"]:
                assert st["released_bytes"] > size // 2
            else:
                assert st["recycled_pages"] > 0 and given_back > size // 2, st
            assert st["peak_rss"] <= st["rss_before"] * 1.1 + (8 << 20), st
    finally:
        ll.unmap(addr, size)


def test_bad_options_and_arguments(region):
    addr, size = region
    with pytest.raises(InvalidArgument):
        CmcOptions(fault_mode="poll")
    with pytest.raises(InvalidArgument):
        CmcOptions(gc_threads=0)
    with pytest.raises(InvalidArgument):
        CmcOptions(install="swap")
    with Compactor(addr, size) as cm:
        with pytest.raises(KernelError):
            cm.flip(used_len=size + PAGE)
        with pytest.raises(KernelError):
            cm.flip(n_build=4, src_first=[0, 2, 1, 3])     # not non-decreasing
        with pytest.raises(InvalidArgument):
            cm.flip(n_build=64, src_first=[0])             # C would read past the list
        with pytest.raises(InvalidArgument):
            cm.flip(n_build=2, src_first=[0, 1, 1])
        with pytest.raises(KernelError):
            cm.flip(used_len=PAGE * 3 + 1)
        assert not cm.active
        assert ll.cmc_test_check(addr, size, SEED, 0) == -1


# ---- fault injection -----------------------------------------------------------

def _reservations(size):
    return {(lo, hi) for lo, hi, p in mappings() if hi - lo == size and p == "---p"}


@pytest.mark.parametrize("point", ["reserve", "uffd", "thread"])
@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
def test_injected_create_failure_leaves_nothing(region, point, fault_mode):
    addr, size = region
    before = _reservations(size)
    nfd = len(__import__("os").listdir("/proc/self/fd"))
    ll.cmc_inject_global(point, 1, errno.ENOMEM)
    try:
        with pytest.raises((UffdUnavailable, KernelError)):
            Compactor(addr, size, CmcOptions(fault_mode=fault_mode, gc_threads=2))
    finally:
        ll.cmc_clear_global_injection()
    assert _reservations(size) == before
    assert len(__import__("os").listdir("/proc/self/fd")) == nfd
    assert ll.cmc_test_check(addr, size, SEED, 0) == -1
    with Compactor(addr, size, CmcOptions(fault_mode=fault_mode)) as cm:    # still usable
        cm.flip()
        cm.wait()
        assert ll.cmc_test_check(addr, size, SEED, cm.pattern) == -1


@pytest.mark.parametrize("flip", ["dontunmap", "remap"])
@pytest.mark.parametrize("point", ["register", "mremap", "remap_mmap"])
def test_injected_flip_failure_rolls_back(region, flip, point):
    addr, size = region
    with Compactor(addr, size, CmcOptions(flip=flip)) as cm:
        cm.inject(point, 1, errno.ENOMEM)
        if point == "remap_mmap" and flip == "dontunmap":
            cm.flip()           # that step does not exist in this flip
            cm.wait()
            assert ll.cmc_test_check(addr, size, SEED, cm.pattern) == -1
            return
        with pytest.raises(KernelError) as ei:
            cm.flip()
        assert ei.value.errno == errno.ENOMEM
        assert not cm.active
        assert ll.cmc_test_check(addr, size, SEED, 0) == -1     # intact, in place
        assert_one_mapping(addr, size)
        assert len(covering(ll.cmc_from_space(cm._c), size)) == 1  # reservation intact
        st = cm.stats()
        assert st["last_error"] == -errno.ENOMEM
        cm.flip()           # and the next cycle works
        cm.wait()
        assert ll.cmc_test_check(addr, size, SEED, cm.pattern) == -1


@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
@pytest.mark.parametrize("install", ["copy", "move"])
def test_injected_ioctl_failure_is_retried(region, fault_mode, install):
    addr, size = region
    with Compactor(addr, size, CmcOptions(fault_mode=fault_mode, install=install)) as cm:
        cm.inject("ioctl", 3, errno.ENOMEM)
        cm.flip()
        ts = mutate_concurrently(addr, size)
        for t in ts:
            t.join()
        cm.wait()
        st = cm.stats()
        assert st["ioctl_errors"] == 1 and st["last_error"] == -errno.ENOMEM
        undo_mutations(addr, size)
        assert ll.cmc_test_check(addr, size, SEED, cm.pattern) == -1


@pytest.mark.parametrize("gc_threads", [1, 2])
def test_injected_worker_failure_is_finished_by_wait(region, gc_threads):
    addr, size = region
    with Compactor(addr, size, CmcOptions(gc_threads=gc_threads)) as cm:
        cm.inject("worker", 1, errno.EIO)
        cm.flip()
        cm.wait()
        st = cm.stats()
        assert st["worker_failures"] == 1 and st["last_error_point"] == ll.CMC_INJECTION_POINTS["worker"]
        assert st["pages_by_gc"] + st["pages_by_mutator"] == size // PAGE
        assert ll.cmc_test_check(addr, size, SEED, cm.pattern) == -1
        assert_one_mapping(addr, size)


# ---- SIGBUS handler coexistence ---------------------------------------------------

def test_sigbus_handler_reinstalled_at_flip_after_faulthandler(region, tmp_path, request):
    """faulthandler enabled over our dispatcher (it replaces the SIGBUS disposition)
    before a flip: the flip takes it back and chains to faulthandler. Afterwards
    faulthandler writes to pytest's stderr again, as before the test: a plain
    faulthandler.enable() here would point it at the capture file of this test,
    and a later crash of the test process would then print nothing."""
    import faulthandler
    try:
        from _pytest.faulthandler import fault_handler_stderr_fd_key
        pytest_fd = request.config.stash.get(fault_handler_stderr_fd_key, None)
    except ImportError:
        pytest_fd = None
    addr, size = region
    was = faulthandler.is_enabled()
    with Compactor(addr, size, CmcOptions(fault_mode="sigbus")) as cm, open(tmp_path / "fh", "w") as fh:
        assert ll.cmc_sigbus_installed()
        try:
            faulthandler.disable()          # enable() alone keeps the handler it installed earlier
            faulthandler.enable(file=fh)    # now it replaces ours
            assert not ll.cmc_sigbus_installed()
            cm.flip()                       # must take it back (and chain to faulthandler)
            assert ll.cmc_sigbus_installed()
            ll.cmc_test_touch(addr, 32, 7)
            cm.wait()
            assert ll.cmc_test_check(addr, size, SEED, cm.pattern) == -1
        finally:
            faulthandler.disable()
            if was:
                faulthandler.enable(file=pytest_fd if pytest_fd is not None else sys.__stderr__)


@pytest.mark.skipif(__import__("os").environ.get("GCHEAP_TSAN") == "1",
                    reason="make tsan: the deliberately crashing child inherits LD_PRELOAD=libtsan")
def test_foreign_sigbus_is_chained_to_faulthandler(tmp_path):
    """A real bus error outside the heap still reaches faulthandler and kills."""
    import subprocess
    import sys
    code = f"""
import faulthandler, mmap, os
faulthandler.enable()
from gcheap import _lowlevel as ll
from gcheap.cmc import Compactor, CmcOptions
size = 2 << 20
addr = ll.map_anon(size, 2 << 20)
cm = Compactor(addr, size, CmcOptions(fault_mode="sigbus"))
cm.flip(); cm.wait()
assert ll.cmc_sigbus_installed()
p = {str(tmp_path / 'f')!r}
with open(p, 'wb') as f: f.write(b'x' * 8192)
f = open(p, 'r+b'); m = mmap.mmap(f.fileno(), 8192)
os.truncate(p, 0)
print('touching', flush=True)
m[4096]
print('survived', flush=True)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "touching" in r.stdout and "survived" not in r.stdout
    assert r.returncode == -7 or "Bus error" in r.stderr, (r.returncode, r.stderr[-500:])
    assert "Bus error" in r.stderr


# ---- the range-theft experiment ------------------------------------------------------

def _flip_under_hammer(flip: str, seconds: float, enough: int = 1 << 30):
    size = 2 << 20
    addr = ll.map_anon(size, 2 << 20)
    ll.cmc_test_fill(addr, size, SEED)
    stop = ll.ffi.new("int *", 0)
    hammered = []
    thefts = flips = 0
    t = threading.Thread(target=lambda: hammered.append(ll.cmc_test_hammer(addr, seconds + 5, stop)))
    import time
    with Compactor(addr, size, CmcOptions(flip=flip)) as cm:
        t.start()
        end = time.monotonic() + seconds
        expect = 0
        while time.monotonic() < end and thefts < enough:
            flips += 1
            try:
                cm.flip()
                cm.wait()
                expect ^= cm.pattern
            except AddressRangeStolen:
                thefts += 1
            assert ll.cmc_test_check(addr, size, SEED, expect) == -1
        stop[0] = 1
        t.join()
    assert_one_mapping(addr, size)
    ll.unmap(addr, size)
    return flips, thefts, hammered[0]


def test_range_theft_remap_vs_dontunmap():
    # The window is a few microseconds per flip: flip until 3 thefts (bounded).
    flips, thefts, stolen = _flip_under_hammer("remap", 15.0, enough=3)
    assert thefts > 0 and stolen >= thefts, (flips, thefts, stolen)
    flips, thefts, stolen = _flip_under_hammer("dontunmap", 1.0)
    assert flips > 10 and thefts == 0 and stolen == 0


# ---- regression: back-to-back cycles -----------------------------------------------------

@pytest.mark.parametrize("install", ["copy", "move"])
@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
def test_back_to_back_cycles_never_end_the_next_one(region, fault_mode, install):
    """A GC worker that was last to finish cycle N but slow to end it must not
    end (and release the from-space of) cycle N+1 that cmc_wait already let
    start. Found by a stress run: cycle N+1's from-space was dropped and
    re-reserved under the workers (SIGSEGV). Many short cycles, two workers."""
    addr, size = region
    # end_delay_us holds the last worker between leaving workers_running and
    # ending the cycle, so that cmc_wait (which polls every 10 ms) finishes the
    # cycle itself and the next flip happens inside that window; worker_delay_us
    # keeps that next cycle running when the late worker wakes up.
    with Compactor(addr, size, CmcOptions(fault_mode=fault_mode, install=install, gc_threads=2,
                                          run_pages=16, worker_delay_us=60000, end_delay_us=30000)) as cm:
        expect = 0
        for _ in range(8 if not STRESS else 200):
            cm.flip()
            ts = mutate_concurrently(addr, size)
            for t in ts:
                t.join()
            cm.wait()
            undo_mutations(addr, size)
            expect ^= cm.pattern
            st = cm.stats()
            assert st["last_error"] == 0, st
            assert ll.cmc_test_check(addr, size, SEED, expect) == -1
        if install == "move":
            assert st["recycled_pages"] > 0


# ---- totals over every cycle --------------------------------------------------------


@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
def test_totals_sum_every_cycle_and_count_the_running_one(region, fault_mode):
    addr, size = region
    npages = size // PAGE
    with Compactor(addr, size, CmcOptions(fault_mode=fault_mode)) as cm:
        assert cm.totals()["cycles"] == 0 and cm.totals()["pages_by_gc"] == 0
        cm.flip()
        cm.wait()
        first = cm.stats()
        # The worker dies at the start of the next cycle: the cycle stays active until
        # wait() finishes it, so the totals are read with the cycle certainly running.
        cm.inject("worker", 1, errno.EIO)
        cm.flip()
        ll.cmc_test_touch(addr, 10, 3)               # a mutator builds 10 pages
        # Thread mode: the ioctl wakes the mutator before the fault thread counts the page.
        running = eventually(cm.totals, lambda t: t["pages_by_mutator"] >= first["pages_by_mutator"] + 10)
        assert cm.active
        assert running["cycles"] == 1
        assert running["pages_by_mutator"] == first["pages_by_mutator"] + 10
        assert running["pages_by_gc"] == first["pages_by_gc"]
        cm.wait()
        second = cm.stats()
        t = cm.totals()
        assert t["cycles"] == 2 == second["cycles"]
        for k in ("pages_by_gc", "pages_by_mutator", "zero_pages", "ioctl_errors", "worker_failures",
                  "moved_bytes", "released_bytes", "faults"):
            assert t[k] == first[k] + second[k], k
        assert t["pages_by_gc"] + t["pages_by_mutator"] == 2 * npages
        assert t["worker_failures"] == 1
        assert t["compaction_s"] == pytest.approx(first["compaction_s"] + second["compaction_s"])
        assert ll.cmc_test_check(addr, size, SEED, 0) == -1
