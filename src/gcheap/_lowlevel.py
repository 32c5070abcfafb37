"""The only module that touches the generated cffi ``lib``.

C functions return -errno (or a status); this module turns them into typed
Python exceptions and plain Python values. Everything above it is pure Python.
"""
from __future__ import annotations

from gcheap._native import ffi, lib  # noqa: F401  (re-exported for this module only)

from gcheap.errors import InvalidArgument, UffdPageExists, UffdPartial, kernel_error


def check(rc: int, operation: str, detail: str | None = None) -> int:
    """Return rc when >= 0, else raise the OSError subclass for -rc."""
    if rc < 0:
        raise kernel_error(-rc, operation, detail)
    return rc


# ---- kernel layer
# Thin typed wrappers over csrc/kernel*.c. Every call into lib runs with the GIL
# released (cffi's default), which is what lets a Python thread serve faults
# for another thread blocked on a missing page inside one of these calls.

import errno as _errno
import threading as _threading

# The C layer's constants, re-exported so no other module needs lib.
OPEN_USER_MODE_ONLY = lib.GK_OPEN_USER_MODE_ONLY
OPEN_NONBLOCK = lib.GK_OPEN_NONBLOCK
OPEN_NO_DEV = lib.GK_OPEN_NO_DEV
OPEN_NO_SYSCALL = lib.GK_OPEN_NO_SYSCALL
MODE_MISSING = lib.GK_MODE_MISSING
MODE_WP = lib.GK_MODE_WP
MODE_MINOR = lib.GK_MODE_MINOR
DONTWAKE = lib.GK_DONTWAKE
RETRY_EAGAIN = lib.GK_RETRY_EAGAIN
MOVE_ALLOW_SRC_HOLES = lib.GK_MOVE_ALLOW_SRC_HOLES
EV_PAGEFAULT = lib.GK_EV_PAGEFAULT
EV_FORK = lib.GK_EV_FORK
EV_REMAP = lib.GK_EV_REMAP
EV_REMOVE = lib.GK_EV_REMOVE
EV_UNMAP = lib.GK_EV_UNMAP
SERVE_COPY = lib.GK_SERVE_COPY
SERVE_ZEROPAGE = lib.GK_SERVE_ZEROPAGE
SERVE_MOVE = lib.GK_SERVE_MOVE
MADV_DONTNEED = lib.GK_MADV_DONTNEED
MADV_HUGEPAGE = lib.GK_MADV_HUGEPAGE
MADV_NOHUGEPAGE = lib.GK_MADV_NOHUGEPAGE

UFFD_API = 0xAA


def page_size() -> int:
    return int(lib.gk_page_size())


def uffd_open_raw(flags: int) -> tuple[int, int, int]:
    """(fd or -errno, via, dev_errno) without raising: the probe wants every answer."""
    via = ffi.new("int *")
    dev_err = ffi.new("int *")
    rc = lib.gk_uffd_open(flags, via, dev_err)
    return int(rc), int(via[0]), int(dev_err[0])


def uffd_api(fd: int, features: int, api: int = UFFD_API) -> tuple[int, int]:
    feats = ffi.new("uint64_t *")
    ioctls = ffi.new("uint64_t *")
    check(lib.gk_uffd_api(fd, api, features, feats, ioctls), "UFFDIO_API", f"features={features:#x}")
    return int(feats[0]), int(ioctls[0])


def uffd_register(fd: int, start: int, length: int, mode: int) -> int:
    ioctls = ffi.new("uint64_t *")
    check(lib.gk_uffd_register(fd, start, length, mode, ioctls), "UFFDIO_REGISTER",
          f"{start:#x}+{length:#x} mode={mode}")
    return int(ioctls[0])


def uffd_unregister(fd: int, start: int, length: int) -> None:
    check(lib.gk_uffd_unregister(fd, start, length), "UFFDIO_UNREGISTER", f"{start:#x}+{length:#x}")


def uffd_wake(fd: int, start: int, length: int) -> None:
    check(lib.gk_uffd_wake(fd, start, length), "UFFDIO_WAKE", f"{start:#x}+{length:#x}")


def _range_result(rc: int, done: int, operation: str) -> int:
    if rc == -_errno.EEXIST:
        raise UffdPageExists(operation, done)
    if rc == -_errno.EAGAIN:
        raise UffdPartial(operation, done)
    check(rc, operation, f"{done} bytes done")
    return done


def uffd_copy(fd: int, dst: int, src: int, length: int, flags: int) -> int:
    done = ffi.new("uint64_t *")
    rc = lib.gk_uffd_copy(fd, dst, src, length, flags, done)
    return _range_result(rc, int(done[0]), "UFFDIO_COPY")


def uffd_zeropage(fd: int, dst: int, length: int, flags: int) -> int:
    done = ffi.new("uint64_t *")
    rc = lib.gk_uffd_zeropage(fd, dst, length, flags, done)
    return _range_result(rc, int(done[0]), "UFFDIO_ZEROPAGE")


def uffd_move(fd: int, dst: int, src: int, length: int, flags: int) -> int:
    done = ffi.new("uint64_t *")
    rc = lib.gk_uffd_move(fd, dst, src, length, flags, done)
    return _range_result(rc, int(done[0]), "UFFDIO_MOVE")


def uffd_poison(fd: int, dst: int, length: int, flags: int) -> int:
    done = ffi.new("uint64_t *")
    rc = lib.gk_uffd_poison(fd, dst, length, flags, done)
    return _range_result(rc, int(done[0]), "UFFDIO_POISON")


def uffd_writeprotect(fd: int, start: int, length: int, protect: bool, dontwake: bool = False) -> None:
    check(lib.gk_uffd_writeprotect(fd, start, length, int(protect), int(dontwake)),
          "UFFDIO_WRITEPROTECT", f"{start:#x}+{length:#x}")


_EVENT_BATCH = 64
_event_buffers = _threading.local()


def uffd_read_events(fd: int, timeout_ms: int) -> list[tuple[int, int, int, int, int, int]]:
    """Raw events as (event, ptid, flags, address, arg1, arg2); [] on timeout.

    The buffer is allocated once per thread: a monitor must not call malloc
    while a fork() it has to acknowledge holds glibc's malloc locks."""
    buf = getattr(_event_buffers, "buf", None)
    if buf is None:
        buf = _event_buffers.buf = ffi.new("struct gk_uffd_event[]", _EVENT_BATCH)
    n = check(lib.gk_uffd_read_events(fd, buf, _EVENT_BATCH, timeout_ms), "read(userfaultfd)")
    return [(int(e.event), int(e.ptid), int(e.flags), int(e.address), int(e.arg1), int(e.arg2))
            for e in (buf[i] for i in range(n))]


def close_fd(fd: int) -> None:
    check(lib.gk_close(fd), "close", f"fd {fd}")


def map_anon(size: int, align: int = 0) -> int:
    out = ffi.new("uintptr_t *")
    check(lib.gk_map_anon(size, align, out), "mmap", f"{size} bytes, align {align}")
    return int(out[0])


def reserve(size: int, align: int = 0) -> int:
    out = ffi.new("uintptr_t *")
    check(lib.gk_reserve(size, align, out), "mmap(PROT_NONE)", f"{size} bytes, align {align}")
    return int(out[0])


def unmap(addr: int, size: int) -> None:
    check(lib.gk_unmap(addr, size), "munmap", f"{addr:#x}+{size:#x}")


def madvise(addr: int, size: int, advice: int) -> None:
    check(lib.gk_madvise(addr, size, advice), "madvise", f"advice {advice}")


def mlock(addr: int, size: int) -> None:
    check(lib.gk_mlock(addr, size), "mlock")


def munlock(addr: int, size: int) -> None:
    check(lib.gk_munlock(addr, size), "munlock")


def map_anon_noreplace(addr: int, size: int) -> None:
    check(lib.gk_map_anon_noreplace(addr, size), "mmap(MAP_FIXED_NOREPLACE)", f"{addr:#x}+{size:#x}")


def map_memfd(size: int) -> tuple[int, int]:
    fd = ffi.new("int *")
    out = ffi.new("uintptr_t *")
    check(lib.gk_map_memfd(size, fd, out), "memfd mmap", f"{size} bytes")
    return int(fd[0]), int(out[0])


def fd_read_into(fd: int, addr: int, length: int) -> int:
    return check(int(lib.gk_fd_read(fd, addr, length)), "read", f"into {addr:#x}+{length:#x}")


def mremap_dontunmap(src: int, length: int, dst: int = 0) -> int:
    out = ffi.new("uintptr_t *")
    check(lib.gk_mremap_dontunmap(src, length, dst, out), "mremap(MREMAP_DONTUNMAP)",
          f"{src:#x}+{length:#x} -> {dst:#x}" if dst else f"{src:#x}+{length:#x}")
    return int(out[0])


def mremap_raw(old: int, old_len: int, new_len: int, flags: int, new: int = 0) -> int:
    out = ffi.new("uintptr_t *")
    check(lib.gk_mremap_raw(old, old_len, new_len, flags, new, out), "mremap", f"flags {flags}")
    return int(out[0])


def read_memory(addr: int, length: int) -> bytes:
    """Copies out of a mapping in C with the GIL released (may block on a fault)."""
    buf = ffi.new("char[]", max(length, 1))
    lib.gk_memcpy(int(ffi.cast("uintptr_t", buf)), addr, length)
    return ffi.buffer(buf, length)[:]


def write_memory(addr: int, data) -> int:
    """Copies a bytes-like object into a mapping in C with the GIL released."""
    src = ffi.from_buffer(data)
    n = len(src)
    lib.gk_memcpy(addr, int(ffi.cast("uintptr_t", src)), n)
    return n


def buffer_address(data) -> tuple[int, int, object]:
    """(address, length, keepalive) of a bytes-like object, for UFFDIO_COPY sources."""
    src = ffi.from_buffer(data)
    return int(ffi.cast("uintptr_t", src)), len(src), src


def memory_view(addr: int, length: int):
    """A writable buffer over [addr, addr+length) (numpy, memoryview)."""
    return ffi.buffer(ffi.cast("char *", addr), length)


# SIGBUS self-service (see csrc/kernel_sigbus.c)

def sigbus_serve(uffd: int, start: int, length: int, source: int, how: int) -> int:
    return check(lib.gk_sigbus_serve(uffd, start, length, source, how), "sigbus serve")


def sigbus_unserve(slot: int) -> None:
    check(lib.gk_sigbus_unserve(slot), "sigbus unserve")


def sigbus_installed() -> bool:
    return bool(check(lib.gk_sigbus_installed(), "sigaction(SIGBUS)"))


def sigbus_uninstall() -> None:
    check(lib.gk_sigbus_uninstall(), "sigbus uninstall")


def sigbus_stats(slot: int) -> dict:
    st = ffi.new("struct gk_sigbus_stats *")
    check(lib.gk_sigbus_stats(slot, st), "sigbus stats")
    return {"served": int(st.served), "eexist": int(st.eexist), "errors": int(st.errors),
            "last_tid": int(st.last_tid), "last_error": int(st.last_error),
            "last_address": int(st.last_address)}


# ---- concurrent compactor

import numpy as _np  # stall arrays; imported up front so timing-sensitive calls do not pay for it

CMC_FAULT_MODES = {"sigbus": lib.CMC_FAULT_SIGBUS, "thread": lib.CMC_FAULT_THREAD}
CMC_INSTALLS = {"copy": lib.CMC_INSTALL_COPY, "move": lib.CMC_INSTALL_MOVE}
CMC_FLIPS = {"dontunmap": lib.CMC_FLIP_DONTUNMAP, "remap": lib.CMC_FLIP_REMAP}
CMC_INJECTION_POINTS = {
    "reserve": lib.CMC_INJ_RESERVE, "uffd": lib.CMC_INJ_UFFD, "thread": lib.CMC_INJ_THREAD,
    "register": lib.CMC_INJ_REGISTER, "mremap": lib.CMC_INJ_MREMAP, "ioctl": lib.CMC_INJ_IOCTL,
    "worker": lib.CMC_INJ_WORKER, "remap_mmap": lib.CMC_INJ_REMAP_MMAP,
}
CMC_POINT_NAMES = {v: k for k, v in CMC_INJECTION_POINTS.items()}
CMC_INSTALL_MOVE = lib.CMC_INSTALL_MOVE
GR_COLLECTOR_CMC = lib.GR_COLLECTOR_CMC


def cmc_start(c) -> None:
    lib.cmc_start(c)


def gr_cmc_wait_rc(rt, timeout_ms: int = -1) -> int:
    return int(lib.gr_cmc_wait(rt, timeout_ms))


def cmc_config(fault_mode: str, install: str, gc_threads: int, flip: str,
               run_pages: int = 32, release_batch_pages: int = 64, worker_delay_us: int = 0,
               end_delay_us: int = 0, install_deadline_ms: int = 0):
    return ffi.new("struct cmc_config *", {
        "fault_mode": CMC_FAULT_MODES[fault_mode], "install": CMC_INSTALLS[install],
        "gc_threads": gc_threads, "flip": CMC_FLIPS[flip], "run_pages": run_pages,
        "release_batch_pages": release_batch_pages, "worker_delay_us": worker_delay_us,
        "end_delay_us": end_delay_us, "install_deadline_ms": install_deadline_ms})
CMC_INSTALL_DEADLINE_MS = lib.CMC_INSTALL_DEADLINE_MS


def cmc_create(heap: int, size: int, cfg):
    out = ffi.new("struct cmc **")
    check(lib.cmc_create(heap, size, cfg, out), "cmc_create")
    return out[0]


def cmc_from_space(c) -> int:
    return int(lib.cmc_from_space(c))


def cmc_destroy(c) -> None:
    lib.cmc_destroy(c)


def cmc_use_xor_builder(c, pattern: int) -> None:
    check(lib.cmc_use_xor_builder(c, pattern), "cmc_use_xor_builder")


def cmc_flip_rc(c, used_len: int, n_build: int, src_first) -> int:
    """Returns the C status (0 or -errno): callers map the flip's errors."""
    firsts = list(src_first)
    if n_build < 0 or len(firsts) != n_build:
        raise InvalidArgument(f"src_first has {len(firsts)} entries, n_build is {n_build}: "
                         "one source page per destination page")
    arr = ffi.new("uint32_t[]", firsts) if n_build else ffi.NULL
    return int(lib.cmc_flip(c, used_len, n_build, arr))


def cmc_wait(c, timeout_ms: int = -1) -> int:
    return int(lib.cmc_wait(c, timeout_ms))


def cmc_active(c) -> bool:
    return bool(lib.cmc_active(c))


def cmc_stats(c) -> dict:
    st = ffi.new("struct cmc_stats *")
    check(lib.cmc_get_stats(c, st), "cmc_get_stats")
    return {name: getattr(st, name) for name, _ in ffi.typeof("struct cmc_stats").fields}


def _totals_dict(t) -> dict:
    return {n: getattr(t, n) for n, _ in ffi.typeof("struct cmc_totals").fields}


def cmc_totals(c) -> dict:
    """Sums over every cycle of c (completed ones, plus the running one so far)."""
    t = ffi.new("struct cmc_totals *")
    check(lib.cmc_get_totals(c, t), "cmc_get_totals")
    return _totals_dict(t)


def cmc_stalls(c, max_entries: int):
    out = _np.zeros(max(max_entries, 1), dtype=_np.float64)
    n = check(lib.cmc_get_stalls(c, ffi.cast("double *", ffi.from_buffer(out)), max_entries), "cmc_get_stalls")
    return out[:n].copy()


def cmc_inject(c, point: str, nth: int = 1, err: int = 5, times: int = 1) -> None:
    """The nth run of the step fails with err, and so do the times-1 runs after it
    (times=-1: every run from the nth on)."""
    check(lib.cmc_inject(c, CMC_INJECTION_POINTS[point], nth, times, err), "cmc_inject")


def cmc_inject_global(point: str, nth: int = 1, err: int = 5) -> None:
    check(lib.cmc_inject_global(CMC_INJECTION_POINTS[point], nth, 1, err), "cmc_inject_global")


def cmc_clear_global_injection() -> None:
    lib.cmc_inject_global(lib.CMC_INJ_NONE, 1, 1, 0)


def cmc_sigbus_installed() -> bool:
    return lib.cmc_sigbus_installed() == 1


def cmc_test_fill(addr: int, length: int, seed: int) -> None:
    lib.cmc_test_fill(addr, length, seed)


def cmc_test_check(addr: int, length: int, seed: int, pattern: int) -> int:
    return int(lib.cmc_test_check(addr, length, seed, pattern))


def cmc_test_touch(addr: int, n: int, stride: int, write: bool = False, val: int = 0):
    out = _np.zeros(max(n, 1), dtype=_np.float64)
    lib.cmc_test_touch(addr, n, stride, 1 if write else 0, val, ffi.cast("double *", ffi.from_buffer(out)))
    return out[:n]


def cmc_test_hammer(addr: int, seconds: float, stop=None) -> int:
    return int(lib.cmc_test_hammer(addr, seconds, stop if stop is not None else ffi.NULL))


def gr_cmc_wait(rt, timeout_ms: int = -1) -> None:
    check(lib.gr_cmc_wait(rt, timeout_ms), "gr_cmc_wait")


def gr_cmc_active(rt) -> bool:
    return bool(lib.gr_cmc_active(rt))


def gr_cmc_info(rt) -> tuple[dict, dict]:
    info = ffi.new("struct gr_cmc_info *")
    st = ffi.new("struct cmc_stats *")
    check(lib.gr_cmc_info(rt, info, st), "gr_cmc_info")
    return ({n: getattr(info, n) for n, _ in ffi.typeof("struct gr_cmc_info").fields},
            {n: getattr(st, n) for n, _ in ffi.typeof("struct cmc_stats").fields})


def gr_cmc_totals(rt) -> dict:
    t = ffi.new("struct cmc_totals *")
    check(lib.gr_cmc_totals(rt, t), "gr_cmc_totals")
    return _totals_dict(t)


def gr_cmc_stalls(rt, max_entries: int):
    out = _np.zeros(max(max_entries, 1), dtype=_np.float64)
    n = check(lib.gr_cmc_stalls(rt, ffi.cast("double *", ffi.from_buffer(out)), max_entries), "gr_cmc_stalls")
    return out[:n].copy()


def gr_cmc_inject(rt, point: str, nth: int = 1, err: int = 5, times: int = 1) -> None:
    check(lib.gr_cmc_inject(rt, CMC_INJECTION_POINTS[point], nth, times, err), "gr_cmc_inject")
# ---------------------------------------------------------------- runtime
# Constants and the raw entry points of the managed runtime (csrc/api_runtime.h).
# The hot paths (field and element access, allocation) are re-exported as the
# cffi functions themselves: gcheap.runtime decodes their results, so a field
# read costs one C call and no extra Python frame.

GR_CLASS_REF_ARRAY = lib.GR_CLASS_REF_ARRAY
GR_CLASS_U8_ARRAY = lib.GR_CLASS_U8_ARRAY
GR_CLASS_I64_ARRAY = lib.GR_CLASS_I64_ARRAY
GR_CLASS_F64_ARRAY = lib.GR_CLASS_F64_ARRAY
GR_CLASS_STRING = lib.GR_CLASS_STRING
GR_FIRST_USER_CLASS = lib.GR_FIRST_USER_CLASS
GR_OPT_VERIFY = lib.GR_OPT_VERIFY
GR_OPT_STRESS = lib.GR_OPT_STRESS
GR_COLLECTOR_STW = lib.GR_COLLECTOR_STW
GR_COLLECTOR_CMC = lib.GR_COLLECTOR_CMC
GR_NPHASES = lib.GR_NPHASES
PHASE_NAMES = tuple(ffi.string(lib.gr_phase_name(i)).decode() for i in range(lib.GR_NPHASES))
PAUSE_KINDS = {lib.GR_PAUSE_FULL: "full", lib.GR_PAUSE_MARK_FLIP: "mark+flip", lib.GR_PAUSE_START: "start",
               lib.GR_PAUSE_REMARK: "remark", lib.GR_PAUSE_FLIP: "flip"}
CAUSE_NAMES = {lib.GR_CAUSE_EXPLICIT: "explicit", lib.GR_CAUSE_ALLOC: "allocation", lib.GR_CAUSE_STRESS: "stress"}

new_instance = lib.gr_new_instance
new_array = lib.gr_new_array
handle_free = lib.gr_handle_free
handle_dup = lib.gr_handle_dup
same = lib.gr_same
class_of = lib.gr_class_of
address = lib.gr_address
get_ref = lib.gr_get_ref
set_ref = lib.gr_set_ref
get_i64 = lib.gr_get_i64
set_i64 = lib.gr_set_i64
get_f64 = lib.gr_get_f64
set_f64 = lib.gr_set_f64
length = lib.gr_length
aget_ref = lib.gr_aget_ref
aset_ref = lib.gr_aset_ref
aget_i64 = lib.gr_aget_i64
aset_i64 = lib.gr_aset_i64
aget_f64 = lib.gr_aget_f64
aset_f64 = lib.gr_aset_f64
aget_u8 = lib.gr_aget_u8
aset_u8 = lib.gr_aset_u8
last_error = lib.gr_last_error
global_set = lib.gr_global_set
global_get = lib.gr_global_get
NULL = ffi.NULL


def runtime_new(heap_max: int, collector: int, options: int, sizing: dict | None = None,
                collector_config=None):
    """(rc, runtime) of gr_runtime_new; sizing keys: initial, min_free, max_free,
    target_utilization (0/absent: the C defaults); collector_config: a cffi struct or None."""
    cfg = ffi.new("struct gr_config *")
    cfg.heap_max = heap_max
    cfg.collector = collector
    cfg.options = options
    for k, v in (sizing or {}).items():
        setattr(cfg.sizing, k, v)
    cfg.collector_config = collector_config if collector_config is not None else ffi.NULL
    out = ffi.new("gr_runtime **")
    rc = lib.gr_runtime_new(cfg, out)
    return rc, out[0]


def runtime_close(rt) -> int:
    return int(lib.gr_runtime_close(rt))


def define_class(rt, nrefs: int, nscalars: int) -> int:
    return int(lib.gr_define_class(rt, nrefs, nscalars))


def new_str(rt, data: bytes) -> int:
    return int(lib.gr_new_str(rt, data, len(data)))


def read_payload(rt, h: int, nbytes: int, out=None):
    """(rc, bytes-like): the first nbytes of a primitive array's or string's payload,
    into `out` (a writable buffer) when given, else into a new bytes object."""
    if out is None:
        buf = ffi.new("char[]", max(nbytes, 1))
        rc = lib.gr_read_payload(rt, h, 0, nbytes, buf)
        return rc, ffi.buffer(buf, nbytes)[:]
    rc = lib.gr_read_payload(rt, h, 0, nbytes, ffi.from_buffer(out, require_writable=True))
    return rc, out


def _pause_dict(p) -> dict:
    return {
        "seq": p.seq, "collector": p.collector, "cause": p.cause, "kind": PAUSE_KINDS.get(p.kind, str(p.kind)),
        "start_ns": p.start_ns,
        "pause_ns": p.pause_ns, "phase_ns": list(p.phase_ns)[:GR_NPHASES],
        "used_before": p.used_before, "live_bytes": p.live_bytes, "freed_bytes": p.freed_bytes,
        "moved_bytes": p.moved_bytes, "live_objects": p.live_objects,
        "rss_before": p.rss_before, "rss_after": p.rss_after,
    }


def gc(rt):
    p = ffi.new("struct gr_pause *")
    rc = lib.gr_gc(rt, p)
    return rc, _pause_dict(p)


def pauses(rt) -> list:
    n = int(lib.gr_pause_count(rt))
    out = []
    p = ffi.new("struct gr_pause *")
    for i in range(max(n, 0)):
        if lib.gr_pause_get(rt, i, p) == 0:
            out.append(_pause_dict(p))
    return out


def verify(rt):
    msg = ffi.new("char[]", 512)
    rc = lib.gr_verify(rt, msg, 512)
    return rc, ffi.string(msg).decode(errors="replace")


def last_verify_message(rt) -> str:
    msg = ffi.new("char[]", 512)
    lib.gr_last_verify_message(rt, msg, 512)
    return ffi.string(msg).decode(errors="replace")


def heap_info(rt):
    p = ffi.new("struct gr_heap_info *")
    rc = lib.gr_heap_info(rt, p)
    return rc, {"address": p.address, "capacity": p.capacity, "soft_limit": p.soft_limit,
                "used": p.used, "live": p.live,
                "page_size": p.page_size, "tlab_bytes": p.tlab_bytes}


def stats(rt):
    p = ffi.new("struct gr_stats *")
    rc = lib.gr_stats(rt, p)
    return rc, {"collections": p.collections, "total_pause_ns": p.total_pause_ns,
                "max_pause_ns": p.max_pause_ns, "bytes_allocated": p.bytes_allocated,
                "objects_allocated": p.objects_allocated, "handles_live": p.handles_live,
                "mutators": p.mutators, "classes": p.classes}


def debug_compact_to_buffer(rt, capacity: int):
    """(rc, bytes): the compacted heap image built by gr_compact_page from a copy."""
    buf = ffi.new("char[]", max(capacity, 1))
    rc = lib.gr_debug_compact_to_buffer(rt, buf, capacity)
    return rc, (ffi.buffer(buf, rc)[:] if rc > 0 else b"")


def memory_at(addr: int, nbytes: int) -> bytes:
    """Copies nbytes at a heap address (tests only; the caller keeps the world quiet)."""
    return ffi.buffer(ffi.cast("char *", addr), nbytes)[:]


# ---- kernel layer (test support, raw costs)

def seccomp_deny_userfaultfd(err: int, also_dev: bool = False) -> None:
    """Test support: userfaultfd(2) (and with also_dev the /dev/userfaultfd
    ioctl) fails with err in this process from now on."""
    check(lib.gk_seccomp_deny_userfaultfd(err, int(also_dev)), "seccomp")


def fork_and_reap_child() -> int:
    """Test support: fork in C (GIL released); the child exits at once."""
    return check(lib.gk_fork_and_reap_child(), "fork")


# raw-cost benchmarks (csrc/bench_raw.c): timing loops in C, samples in ns

_BENCH = frozenset({"memcpy", "first_touch", "uffd_copy", "uffd_zeropage", "uffd_move",
                    "fault_thread", "fault_sigbus", "mremap_dontunmap"})


def bench_samples(name: str, n_samples: int, *args: int) -> list[int]:
    """Runs gkb_<name>(*args, ns_out) and returns its n_samples samples (ns)."""
    if name not in _BENCH:
        raise ValueError(f"unknown benchmark {name!r}")
    out = ffi.new("uint64_t[]", n_samples)
    check(getattr(lib, "gkb_" + name)(*args, out), f"bench {name}")
    return [int(out[i]) for i in range(n_samples)]


# ---------------------------------------------------------------- interpreter
# The C VM (csrc/interp_*.c): runs a serialised program on a runtime's heap.

GI_STATUS_OK = lib.GI_STATUS_OK
GI_STATUS_EXCEPTION = lib.GI_STATUS_EXCEPTION
GI_STATUS_FATAL = lib.GI_STATUS_FATAL
GI_OPT_BUDGET = lib.GI_OPT_BUDGET
GI_OPT_SIGINT = lib.GI_OPT_SIGINT


def interp_run(rt, image: bytes, out_fd: int, err_fd: int, options: int = 0) -> tuple[int, dict]:
    """(rc, result) of gi_run: rc < 0 when the program could not start."""
    res = ffi.new("struct gi_result *")
    rc = lib.gi_run(rt, image, len(image), out_fd, err_fd, options, res)
    return int(rc), {
        "status": int(res.status), "exc_builtin": int(res.exc_builtin),
        "exc_line": int(res.exc_line), "fatal_errno": int(res.fatal_errno),
        "instructions": int(res.instructions), "allocations": int(res.allocations),
        "message": ffi.string(res.message).decode("utf-8", "replace"),
    }
