"""Typed wrappers of the kernel layer (csrc/kernel, gcheap/kernel.h)."""
from __future__ import annotations

from gcheap._lowlevel.base import check, ffi, lib  # noqa: F401

from gcheap.errors import UffdPageExists, UffdPartial  # noqa: F401

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
    """True when the process's SIGBUS dispatcher (csrc/kernel/fault.c) is the disposition."""
    return bool(check(lib.gk_fault_installed(), "sigaction(SIGBUS)"))


def sigbus_uninstall() -> None:
    check(lib.gk_fault_uninstall(), "sigbus uninstall")


def sigbus_chained() -> int:
    """Foreign SIGBUS signals the dispatcher passed to the previous handler so far."""
    return int(lib.gk_fault_chained())


def sigbus_ranges() -> list[tuple[int, int]]:
    """(start, length) of every range the SIGBUS dispatcher serves now."""
    k = lib.GK_FAULT_SLOTS
    starts, lens = ffi.new("uint64_t[]", k), ffi.new("uint64_t[]", k)
    n = check(lib.gk_fault_ranges(starts, lens, k), "sigbus ranges")
    return [(int(starts[i]), int(lens[i])) for i in range(min(n, k))]


def sigbus_stats(slot: int) -> dict:
    st = ffi.new("struct gk_sigbus_stats *")
    check(lib.gk_sigbus_stats(slot, st), "sigbus stats")
    return {"served": int(st.served), "eexist": int(st.eexist), "errors": int(st.errors),
            "last_tid": int(st.last_tid), "last_error": int(st.last_error),
            "last_address": int(st.last_address)}


# The page server (see csrc/kernel/pageserver.c)

PS_SIGBUS = lib.GK_PS_SIGBUS
PS_THREAD = lib.GK_PS_THREAD
PS_SOURCES = {"copy": lib.GK_PS_COPY, "move": lib.GK_PS_MOVE, "zeropage": lib.GK_PS_ZEROPAGE,
              "poison": lib.GK_PS_POISON, "file": lib.GK_PS_FILE}
PS_DROP_PRESENT = lib.GK_PS_DROP_PRESENT
PS_DROP_REGION = lib.GK_PS_DROP_REGION
PS_INJ = {"filler_dies": lib.GK_PS_INJ_FILLER_DIES, "install": lib.GK_PS_INJ_INSTALL}
FILL_STATES = {lib.GK_FILL_IDLE: "idle", lib.GK_FILL_RUNNING: "running", lib.GK_FILL_DONE: "done",
               lib.GK_FILL_DIED: "died"}
PS_BLOCK_STATES = ("missing", "claimed", "present")


def ps_chunks(n: int):
    """A zeroed array of n struct gk_ps_chunk (offset, checksum, present)."""
    return ffi.new("struct gk_ps_chunk[]", max(n, 1))


def ps_create(start: int, length: int, block_pages: int, mode: int, source: int, *, wp: bool = False,
              region: int = 0, fd: int = -1, file_mmap: bool = False, chunks=None, verify: bool = False,
              name: str = ""):
    cfg = ffi.new("struct gk_ps_config *")
    cfg.start, cfg.len, cfg.block_pages, cfg.mode, cfg.source = start, length, block_pages, mode, source
    cfg.wp, cfg.region, cfg.fd, cfg.file_mmap, cfg.verify = int(wp), region, fd, int(file_mmap), int(verify)
    cfg.chunks = chunks if chunks is not None else ffi.NULL
    cname = ffi.new("char[]", name.encode(errors="replace"))
    cfg.name = cname
    out = ffi.new("struct gk_ps **")
    check(lib.gk_ps_create(cfg, out), "page server", f"{start:#x}+{length:#x}")
    return out[0]


def ps_mask_features(bits: int) -> None:
    """Testing: page servers created from now on open their userfaultfd without
    these UFFD_FEATURE_* bits, as on a kernel that lacks them (0 clears)."""
    check(lib.gk_ps_mask_features(bits), "page server feature mask")


def ps_features(ps) -> int:
    """The UFFD_FEATURE_* bits the server's userfaultfd was opened with."""
    return int(lib.gk_ps_features(ps))


FEATURE_MOVE = lib.GK_FEATURE_MOVE


def ps_arm(ps, length: int = 0) -> None:
    check(lib.gk_ps_arm(ps, length), "page server arm (UFFDIO_REGISTER)")


def ps_disarm(ps) -> None:
    check(lib.gk_ps_disarm(ps), "page server disarm (UFFDIO_UNREGISTER)")


def ps_destroy(ps) -> None:
    lib.gk_ps_destroy(ps)


def ps_install(ps, first: int, n: int, how: int = 0, flags: int = 0) -> int:
    done = ffi.new("uint64_t *")
    check(lib.gk_ps_install(ps, first, n, how, flags, done), "page server install")
    return int(done[0])


def ps_set_source(ps, first: int, n: int, source: int, flags: int = 0) -> int:
    mask = ffi.new("uint64_t *")
    check(lib.gk_ps_set_source(ps, first, n, source, flags, mask), "page server set_source")
    return int(mask[0])


def ps_block_state(ps, block: int) -> str:
    return PS_BLOCK_STATES[check(lib.gk_ps_block_state(ps, block), "page server block state")]


def ps_fill_start(ps, min_bytes: int, max_bytes: int) -> None:
    check(lib.gk_ps_fill_start(ps, min_bytes, max_bytes, ffi.NULL, ffi.NULL), "page server filler")


def ps_fill_wait(ps, timeout_ms: int) -> bool:
    """True when every block is present; False on timeout."""
    rc = lib.gk_ps_fill_wait(ps, timeout_ms)
    if rc == -_errno.ETIMEDOUT:
        return False
    check(rc, "page server fill wait")
    return True


def ps_stats(ps) -> dict:
    st = ffi.new("struct gk_ps_stats *")
    check(lib.gk_ps_stats(ps, st), "page server stats")
    d = {k: int(getattr(st, k)) for k in ("nblocks", "present", "faults", "blocks_by_fault", "blocks_installed",
                                          "bytes_read", "eexist", "eagain", "errors", "stalls", "filler_rounds",
                                          "filler_resets", "filler_chunk", "filler_max_chunk", "last_error")}
    d["filler_state"] = FILL_STATES.get(int(st.filler_state), str(st.filler_state))
    return d


def ps_stalls(ps, max_n: int):
    import numpy as np
    out = np.zeros(max(max_n, 1), dtype=np.float64)
    n = check(lib.gk_ps_stalls(ps, ffi.cast("double *", ffi.from_buffer(out)), max_n), "page server stalls")
    return out[:n]


def ps_dirty(ps, npages: int, clear: bool = False):
    import numpy as np
    words = (npages + 63) // 64
    out = np.zeros(max(words, 1), dtype=np.uint64)
    check(lib.gk_ps_dirty(ps, ffi.cast("uint64_t *", ffi.from_buffer(out)), words, int(clear)), "page server dirty")
    return out


def ps_inject(ps, point: int, nth: int, err: int = 0) -> None:
    check(lib.gk_ps_inject(ps, point, nth, err), "page server inject")


def checksum(data) -> int:
    src = ffi.from_buffer(data)
    return int(lib.gk_checksum(int(ffi.cast("uintptr_t", src)), len(src)))
