"""Typed wrappers of the snapshot layer (csrc/snapshot, gcheap/snapshot.h)."""
from __future__ import annotations

import errno as _errno

from gcheap._lowlevel.base import check, ffi, lib  # noqa: F401
from gcheap.errors import (HeapAddressInUse, SnapshotCorrupt, SnapshotError, SnapshotFormatError,
                           SnapshotTruncated, SnapshotVersionError)

GS_MODES = {"dontunmap": lib.GS_MODE_DONTUNMAP, "wp": lib.GS_MODE_WP, "stw": lib.GS_MODE_STW}
GS_MODE_NAMES = {v: k for k, v in GS_MODES.items()}
GS_KINDS = {lib.GS_KIND_SNAPSHOT: "snapshot", lib.GS_KIND_SWAP: "swap"}
GS_FAULT_MODES = {"sigbus": lib.GK_PS_SIGBUS, "thread": lib.GK_PS_THREAD}
GS_INJ = {"write": lib.GS_INJ_WRITE, "writer_dies": lib.GS_INJ_WRITER_DIES, "flip": lib.GS_INJ_FLIP}
GS_FORMAT_VERSION = lib.GS_FORMAT_VERSION
SWAP_STATES = ("none", "out", "in", "tracking")

REPORT_FIELDS = ("pause_s", "flip_s", "write_s", "total_s", "heap_bytes", "bytes_written", "file_bytes",
                 "metadata_bytes", "pages_written", "zero_pages", "pages_served", "pages_moved_back",
                 "pages_reused", "rss_before", "peak_extra_rss", "wp_rounds", "wp_final_pages", "move_fallback")


def format_error(rc: int, path: str) -> SnapshotError:
    """The typed exception for a -errno of reading a snapshot file."""
    e = -rc
    if e == _errno.ENOEXEC:
        return SnapshotFormatError(e, "not a gcheap snapshot (bad magic: another file, or one whose "
                                      "writing never finished)", path)
    if e == _errno.EPROTONOSUPPORT:
        return SnapshotVersionError(e, f"a snapshot of another format version or page size "
                                       f"(this gcheap reads version {GS_FORMAT_VERSION})", path)
    if e == _errno.ENODATA:
        return SnapshotTruncated(e, "truncated: the file is shorter than its header says", path)
    if e == _errno.EBADMSG:
        return SnapshotCorrupt(e, "corrupt: a checksum or a field of the file does not hold", path)
    if e == _errno.EADDRINUSE:
        return HeapAddressInUse(e, "the address range of the snapshot's heap is taken in this process", path)
    return SnapshotError(e, f"{_errno.errorcode.get(e, e)}: {__import__('os').strerror(e)}", path)


def config(mode: str, fault_mode: str, chunk_pages: int, fsync: bool, batch_bytes: int, meta: bytes,
           inject: tuple | None = None, wp_rounds: int = 0, writer_delay_us: int = 0):
    cfg = ffi.new("struct gs_config *")
    cfg.writer_delay_us = writer_delay_us
    cfg.mode, cfg.fault_mode = GS_MODES[mode], GS_FAULT_MODES[fault_mode]
    cfg.chunk_pages, cfg.fsync, cfg.batch_bytes, cfg.wp_rounds = chunk_pages, int(fsync), batch_bytes, wp_rounds
    keep = ffi.new("char[]", meta)
    cfg.meta, cfg.meta_len = keep, len(meta)
    if inject:
        point, nth, err = inject
        cfg.inject_point, cfg.inject_nth, cfg.inject_err = GS_INJ[point], nth, err
    return cfg, keep


def snapshot_start(rt, fd: int, cfg, swap: bool = False):
    """(rc, op)."""
    out = ffi.new("struct gs_op **")
    rc = (lib.gs_swap_out if swap else lib.gs_snapshot_start)(rt, fd, cfg, out)
    return int(rc), out[0]


def report_dict(r) -> dict:
    d = {k: getattr(r, k) for k in REPORT_FIELDS}
    d["kind"] = GS_KINDS.get(r.kind, str(r.kind))
    d["mode"] = GS_MODE_NAMES.get(r.mode, str(r.mode))
    d["error"] = int(r.error)
    d["done"] = bool(r.done)
    d["move_fallback"] = bool(r.move_fallback)
    return d


def op_wait(op, timeout_ms: int):
    """(rc, report dict); rc -ETIMEDOUT while it runs."""
    r = ffi.new("struct gs_report *")
    rc = lib.gs_op_wait(op, timeout_ms, r)
    return int(rc), report_dict(r)


def op_stalls(op, max_n: int = 1 << 20):
    import numpy as np
    out = np.zeros(max(max_n, 1), dtype=np.float64)
    n = lib.gs_op_stalls(op, ffi.cast("double *", ffi.from_buffer(out)), max_n)
    return out[: max(int(n), 0)]


def op_free(op) -> None:
    lib.gs_op_free(op)


def swap_in(rt, wait: bool) -> None:
    check(lib.gs_swap_in(rt, int(wait)), "swap_in")


def swap_state(rt) -> str:
    return SWAP_STATES[lib.gs_swap_state(rt)]


def file_info(fd: int, path: str) -> tuple[dict, bytes]:
    """The header's fields and the whole meta section (read again into a buffer of
    its size when it is over 1 MiB: meta_len is checked against the file's size)."""
    info = ffi.new("struct gs_file_info *")
    cap = 1 << 20
    meta = ffi.new("char[]", cap)
    rc = lib.gs_file_info(fd, info, meta, cap)
    if rc >= 0 and info.meta_len > cap:
        cap = int(info.meta_len)
        meta = ffi.new("char[]", cap)
        rc = lib.gs_file_info(fd, info, meta, cap)
    if rc < 0:
        err = format_error(rc, path)
        err.version = int(info.version)
        err.page_size = int(info.page_size)
        raise err
    d = {k: int(getattr(info, k)) for k in (
        "version", "page_size", "chunk_pages", "collector", "kind", "mode", "heap_address", "heap_capacity",
        "used", "soft_limit", "live", "nclasses", "nglobals", "nchunks", "data_bytes", "stored_pages",
        "file_bytes", "metadata_bytes", "meta_len", "created_ns", "header_checksum")}
    d["kind"] = GS_KINDS.get(d["kind"], str(d["kind"]))
    d["mode"] = GS_MODE_NAMES.get(d["mode"], str(d["mode"]))
    d["sizing_initial"], d["sizing_min_free"] = int(info.sizing.initial), int(info.sizing.min_free)
    d["sizing_max_free"], d["target_utilization"] = int(info.sizing.max_free), float(info.sizing.target_utilization)
    return d, ffi.buffer(meta, min(d["meta_len"], cap))[:]


def file_verify(fd: int) -> tuple[int, int]:
    """(rc, first bad chunk)."""
    bad = ffi.new("uint64_t *")
    rc = lib.gs_file_verify(fd, bad)
    return int(rc), int(bad[0])


def restore(fd: int, path: str, collector: int, options: int, collector_config, lazy: bool, fault_mode: str,
            mmap: bool, verify: bool, fill: tuple = (0, 0), prefetch: bool = True, sizing: dict | None = None):
    """(rc, runtime). sizing: struct gr_heap_sizing fields that replace the file's."""
    cfg = ffi.new("struct gs_restore_config *")
    for k, v in (sizing or {}).items():
        setattr(cfg.sizing, k, v)
    cfg.collector, cfg.options = collector, options
    cfg.collector_config = collector_config if collector_config is not None else ffi.NULL
    cfg.lazy, cfg.fault_mode, cfg.file_mmap, cfg.verify = int(lazy), GS_FAULT_MODES[fault_mode], int(mmap), \
        int(verify)
    cfg.fill_min, cfg.fill_max = fill
    cfg.no_filler = int(not prefetch)
    name = ffi.new("char[]", path.encode(errors="replace"))
    cfg.name = name
    out = ffi.new("gr_runtime **")
    rc = lib.gs_restore(fd, cfg, out)
    return int(rc), out[0]


def restore_wait(rt, timeout_ms: int) -> bool:
    rc = lib.gs_restore_wait(rt, timeout_ms)
    if rc == -_errno.ETIMEDOUT:
        return False
    check(rc, "restore wait")
    return True


def server_stats(rt) -> dict | None:
    st = ffi.new("struct gk_ps_stats *")
    rc = lib.gs_server_stats(rt, st)
    if rc == -_errno.ENOENT:
        return None
    check(rc, "page server stats")
    from gcheap._lowlevel.kernel import FILL_STATES
    d = {k: int(getattr(st, k)) for k in ("nblocks", "present", "faults", "blocks_by_fault", "blocks_installed",
                                          "bytes_read", "errors", "filler_rounds", "filler_resets",
                                          "filler_max_chunk")}
    d["filler_state"] = FILL_STATES.get(int(st.filler_state), str(st.filler_state))
    return d


def release(rt) -> None:
    lib.gs_release(rt)
