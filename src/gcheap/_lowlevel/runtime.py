"""The runtime's entry points (csrc/runtime and csrc/gc: gcheap/runtime.h, gcheap/gc.h)."""
from __future__ import annotations

from gcheap._lowlevel.base import check, ffi, lib  # noqa: F401

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
GR_MAX_HEAP = lib.GR_MAX_HEAP
GR_NPHASES = lib.GR_NPHASES
PHASE_NAMES = tuple(ffi.string(lib.gr_phase_name(i)).decode() for i in range(lib.GR_NPHASES))
PAUSE_KINDS = {lib.GR_PAUSE_FULL: "full", lib.GR_PAUSE_MARK_FLIP: "mark+flip", lib.GR_PAUSE_START: "start",
               lib.GR_PAUSE_REMARK: "remark", lib.GR_PAUSE_FLIP: "flip", lib.GR_PAUSE_SNAPSHOT: "snapshot",
               lib.GR_PAUSE_CATCHUP: "catchup"}
CAUSE_NAMES = {lib.GR_CAUSE_EXPLICIT: "explicit", lib.GR_CAUSE_ALLOC: "allocation", lib.GR_CAUSE_STRESS: "stress",
               lib.GR_CAUSE_PACED: "paced", lib.GR_CAUSE_FULL: "full"}

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
    msg = ffi.new("char[]", 1024)
    rc = lib.gr_verify(rt, msg, 1024)
    return rc, ffi.string(msg).decode(errors="replace")


def last_verify_message(rt) -> str:
    msg = ffi.new("char[]", 1024)
    lib.gr_last_verify_message(rt, msg, 1024)
    return ffi.string(msg).decode(errors="replace")


def heap_info(rt):
    p = ffi.new("struct gr_heap_info *")
    rc = lib.gr_heap_info(rt, p)
    return rc, {"address": p.address, "capacity": p.capacity, "reservation": p.capacity,
                "soft_limit": p.soft_limit, "resident": p.resident,
                "used": p.used, "live": p.live,
                "page_size": p.page_size, "tlab_bytes": p.tlab_bytes}


def stats(rt):
    p = ffi.new("struct gr_stats *")
    rc = lib.gr_stats(rt, p)
    return rc, {"collections": p.collections, "total_pause_ns": p.total_pause_ns,
                "max_pause_ns": p.max_pause_ns, "bytes_allocated": p.bytes_allocated,
                "objects_allocated": p.objects_allocated, "handles_live": p.handles_live,
                "mutators": p.mutators, "classes": p.classes, "alloc_stalls": p.alloc_stalls,
                "alloc_stall_ns": p.alloc_stall_ns, "soft_limit_raises": p.soft_limit_raises,
                "claim_zeroed_bytes": p.claim_zeroed_bytes}


def debug_compact_to_buffer(rt, capacity: int):
    """(rc, bytes): the compacted heap image built by gr_compact_page from a copy."""
    buf = ffi.new("char[]", max(capacity, 1))
    rc = lib.gr_debug_compact_to_buffer(rt, buf, capacity)
    return rc, (ffi.buffer(buf, rc)[:] if rc > 0 else b"")


def memory_at(addr: int, nbytes: int) -> bytes:
    """Copies nbytes at a heap address (tests only; the caller keeps the world quiet)."""
    return ffi.buffer(ffi.cast("char *", addr), nbytes)[:]
