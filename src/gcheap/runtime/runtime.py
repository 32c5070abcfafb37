"""The managed runtime: a Java-like heap in one anonymous mapping, moved by a collector.

Python never holds a heap address: a :class:`Ref` holds a handle (an index into the
C core's handle table) that the collector updates when the object moves. Dropping
the Ref frees the handle. Every Python thread that touches the runtime is a mutator,
attached automatically by the C core; cffi releases the GIL around every C call.

The Ref classes live in gcheap.runtime.refs, global roots and scopes in gcheap.runtime.roots.
"""
from __future__ import annotations

import errno
import os
import re
import sys
import threading
import time
import weakref
from typing import Any, Iterable

from gcheap import _lowlevel as _ll
from gcheap.errors import (BadIndex, ForeignRef, HeapCorruption, HeapExhausted, InvalidOption,
                           RuntimeBusy, RuntimeClosed, StaleRef, TableFull, UnknownField, ValueOutOfRange,
                           WrongType)
from gcheap.runtime.refs import (_F64, _I64, _MASK, _REF, F64Array, I64Array,  # noqa: F401
                         Instance, Ref, RefArray, Str, U8Array, _Array, _f64_getter, _i64_getter,
                         _new_obj, _ref_getter, _set_h, _set_rt)
from gcheap.runtime.report import GCReport, pause_summary
from gcheap.runtime.roots import GlobalRoots, Scope

__all__ = ["Runtime", "Ref", "Instance", "RefArray", "I64Array", "F64Array", "U8Array", "Str",
           "parse_size", "default_heap_max", "COLLECTORS"]

_new_instance = _ll.new_instance

# Collector name -> C collector id. The concurrent compactor adds its modes here.
COLLECTORS: dict[str, int] = {"stw": _ll.GR_COLLECTOR_STW, "cmc": _ll.GR_COLLECTOR_CMC}
# Runtime(collector=None): concurrent compaction wherever the kernel allows it, else stw
DEFAULT_COLLECTOR = "cmc"

_ARRAY_KINDS = {"ref": _ll.GR_CLASS_REF_ARRAY, "u8": _ll.GR_CLASS_U8_ARRAY,
                "i64": _ll.GR_CLASS_I64_ARRAY, "f64": _ll.GR_CLASS_F64_ARRAY}
_RESERVED = {"same", "kind"}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MAX_HEAP = _ll.GR_MAX_HEAP


def parse_size(value: Any, option: str = "heap_size") -> int:
    """Bytes from an int or a string like "512K", "64M", "1G" (binary units)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidOption(f"{option}: expected an int or a string like '64M', got {value!r}")
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if not m:
            raise InvalidOption(f"{option}: cannot parse {value!r} (use e.g. 512K, 64M, 1G)")
        n = float(m.group(1)) * _UNITS[m.group(2).upper()]
        if n != int(n):
            raise InvalidOption(f"{option}: {value!r} is not a whole number of bytes")
        value = int(n)
    if value <= 0:
        raise InvalidOption(f"{option}: must be positive, got {value}")
    if value > MAX_HEAP:
        raise InvalidOption(f"{option}: {value} bytes is more than the 1 TiB limit")
    return value


# ---------------------------------------------------------------- the runtime

DEFAULT_HEAP_CAP = 16 << 30


def default_heap_max() -> int:
    """The default maximum heap: a quarter of physical memory, at most 16 GiB (at
    least 64 MiB). It is only reserved: memory is used as the live data needs it."""
    try:
        phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        phys = 4 << 30
    size = min(max(phys // 4, 64 << 20), DEFAULT_HEAP_CAP)
    return size & ~((2 << 20) - 1)


def _sizing(heap_initial, target_utilization, min_free, max_free, heap_max: int) -> dict:
    """The C core's struct gr_heap_sizing from the keyword arguments (validated)."""
    sizing: dict = {}
    if heap_initial is not None:
        sizing["initial"] = parse_size(heap_initial, "heap_initial")
        if sizing["initial"] > heap_max:
            raise InvalidOption(f"heap_initial: {sizing['initial']} bytes is more than heap_size ({heap_max})")
    for name, v in (("min_free", min_free), ("max_free", max_free)):
        if v is not None:
            sizing[name] = parse_size(v, name)
    if "min_free" in sizing and "max_free" in sizing and sizing["max_free"] < sizing["min_free"]:
        raise InvalidOption("max_free must be at least min_free")
    if target_utilization is not None:
        if isinstance(target_utilization, bool) or not isinstance(target_utilization, (int, float)) \
                or not 0 < target_utilization <= 1:
            raise InvalidOption(f"target_utilization: a number in (0, 1], got {target_utilization!r}")
        sizing["target_utilization"] = float(target_utilization)
    return sizing


_RUNTIMES: "weakref.WeakSet[Runtime]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """Python-level locks another thread may have held at the fork; the C core
    repairs its own (csrc/runtime/fork.c)."""
    for rt in list(_RUNTIMES):
        rt._programs_lock = threading.Lock()
        rt._class_lock = threading.Lock()
        rt._scope_lock = threading.Lock()
        rt._programs, rt._programs_pid = 0, os.getpid()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Runtime:
    """A managed heap with its own classes, handles, global roots and collector.

    ``Runtime(heap_size=None, collector=None, verify=False, stress=False)``;
    also a context manager (close() at exit).

    collector: "cmc" (concurrent compaction: marking and compaction run beside
    the program, every pause bounded by the roots) or "stw" (mark-compact in one
    pause, the baseline). The default (None) is "cmc" wherever this kernel and
    process allow it and "stw" where they do not, as ART chooses its collector:
    then ``collector_fallback`` says why (``gcheap doctor`` tells the remedy) and
    no warning is given. Asking for "cmc" explicitly, or passing any of its
    options, on such a kernel warns and compacts stop-the-world
    (require_concurrent=True raises UffdUnavailable instead).

    heap_size is the MAXIMUM heap: reserved once (address space, not memory) and
    never exceeded. The runtime allocates below a soft limit that starts at
    heap_initial (default 8 MiB) and follows the live data after each collection:
    live / target_utilization (default 0.5), with min_free..max_free (default
    2 MiB..64 MiB) free above live, as ART and the JVM size their heaps. So RSS
    follows what is live, and the default maximum (``default_heap_max()``: a
    quarter of physical memory, at most 16 GiB) serves programs of any size.
    """

    def __init__(self, heap_size: "int | str | None" = None, collector: "str | None" = None, *,
                 verify: bool = False, stress: bool = False, heap_initial: "int | str | None" = None,
                 target_utilization: float | None = None, min_free: "int | str | None" = None,
                 max_free: "int | str | None" = None, _create=None, **collector_options: Any) -> None:
        self._closed = True
        self._cmc = None
        self._snapshot_ops: set = set()      # snapshots and swap-outs under way (gcheap.runtime.snapshot)
        self._swap_path: str | None = None
        self._restored_from: str | None = None
        create = _create or _ll.runtime_new
        self._created_ns = time.monotonic_ns()         # the timeline's t0 (gcheap.runtime.timeline)
        self._programs = 0                # run_file calls in progress (in process _programs_pid)
        self._programs_pid = os.getpid()
        self._programs_lock = threading.Lock()
        size = default_heap_max() if heap_size is None else parse_size(heap_size)
        sizing = _sizing(heap_initial, target_utilization, min_free, max_free, size)
        chosen = collector is not None or bool(collector_options)    # the default gives way silently
        if collector is None:
            collector = DEFAULT_COLLECTOR
        if not isinstance(collector, str) or collector not in COLLECTORS:
            raise InvalidOption(f"collector: unknown collector {collector!r} (available: {', '.join(COLLECTORS)})")
        self.collector_fallback: str | None = None
        cmc_options = None
        if collector == "cmc" or collector_options:     # a stw runtime needs none of it (nor its import)
            from gcheap.runtime.cmc import CmcState, split_options
            cmc_options = split_options(collector, collector_options)
        for name, v in (("verify", verify), ("stress", stress)):
            if not isinstance(v, bool):
                raise InvalidOption(f"{name}: expected True or False, got {v!r}")
        options = (_ll.GR_OPT_VERIFY if verify else 0) | (_ll.GR_OPT_STRESS if stress else 0)
        fallback_rc = 0
        if cmc_options is not None:
            rc, c = create(size, COLLECTORS[collector], options, sizing, cmc_options.c_config())
            if rc < 0 and rc != -errno.ENOMEM:
                # the kernel cannot run the concurrent compactor: stop-the-world compaction
                fallback_rc = rc
                rc, c = create(size, _ll.GR_COLLECTOR_STW, options, sizing)
                if not chosen:          # the default: a plain stw runtime, and why
                    from gcheap.cmc.compactor import unavailable_reason
                    e = unavailable_reason(-fallback_rc)
                    self.collector_fallback = e.strerror + " (gcheap doctor)"
                    collector, cmc_options, fallback_rc = "stw", None, 0
        else:
            rc, c = create(size, COLLECTORS[collector], options, sizing)
        if rc == -errno.ENOMEM:
            raise HeapExhausted(f"cannot reserve a heap of {size} bytes")
        if rc == -errno.EINVAL:
            raise InvalidOption(f"heap_size/collector: rejected by the C core ({size}, {collector!r})")
        if rc:
            raise _ll.kernel_error(-rc, "gr_runtime_new")
        self._c = c
        self._closed = False
        self.collector = collector
        self.options = {"heap_size": size, "collector": collector, "verify": verify, "stress": stress,
                         **{k: v for k, v in (("heap_initial", heap_initial), ("target_utilization", target_utilization),
                                              ("min_free", min_free), ("max_free", max_free)) if v is not None}}
        self._types: list[type] = [Ref] * _ll.GR_FIRST_USER_CLASS
        self._types[_ll.GR_CLASS_REF_ARRAY] = RefArray
        self._types[_ll.GR_CLASS_U8_ARRAY] = U8Array
        self._types[_ll.GR_CLASS_I64_ARRAY] = I64Array
        self._types[_ll.GR_CLASS_F64_ARRAY] = F64Array
        self._types[_ll.GR_CLASS_STRING] = Str
        self._classes: dict[str, type] = {}
        self._class_lock = threading.Lock()
        self._tls = threading.local()
        self._scope_lock = threading.Lock()
        self._nscopes = 0
        self.globals = GlobalRoots(self)
        _RUNTIMES.add(self)
        if cmc_options is not None:
            self.options.update(collector_options)
            try:
                self._cmc = CmcState(self, cmc_options, fallback_rc)
            except BaseException:
                self.close()
                raise

    # -- internals -------------------------------------------------------------
    def _wrap(self, r: int) -> Ref:
        """A Ref for a packed C result (> 0)."""
        ref = _new_obj(self._types[r >> 32])
        _set_rt(ref, self)
        _set_h(ref, r & _MASK)
        if self._nscopes:
            scopes = getattr(self._tls, "scopes", None)
            if scopes:
                scopes[-1].append(ref)
        return ref

    def _handle_of(self, value: Any, what: str) -> int:
        """The handle to store for a reference value (0 for None)."""
        if value is None:
            return 0
        if not isinstance(value, Ref):
            raise WrongType(f"{what} takes a Ref or None, got {type(value).__name__}")
        if value._rt is not self:
            raise ForeignRef(f"{what}: the Ref belongs to another runtime")
        h = value._h
        if not h:
            raise StaleRef("this Ref was freed when its scope() ended")
        return h

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeClosed("the runtime is closed")

    def _error(self, rc: int, what: str = "") -> Exception:
        """The typed exception for a -errno from the C core."""
        e = -rc
        where = f" ({what})" if what else ""
        if e == errno.ESHUTDOWN:
            return RuntimeClosed("the runtime is closed")
        if e == errno.ENOMEM:
            info = ""
            if not self._closed:
                _, hi = _ll.heap_info(self._c)
                info = f": capacity {hi['capacity']} bytes, {hi['live']} live after the last full collection"
            return HeapExhausted(f"heap exhausted{where}{info}")
        if e == errno.EFAULT:
            return HeapCorruption(_ll.last_verify_message(self._c) or "heap corruption")
        if e == errno.ERANGE:
            return BadIndex(f"index out of range{where}")
        if e == errno.EBADF:
            return StaleRef(f"invalid or freed handle{where}")
        if e == errno.EINVAL:
            return WrongType(f"wrong kind of object{where}")
        if e == errno.EDOM:
            return ValueOutOfRange(f"value out of range{where}")
        if e in (errno.ENOSPC, errno.EAGAIN):
            return TableFull(f"a runtime table is full{where} ({errno.errorcode.get(e, e)})")
        return _ll.kernel_error(e, f"runtime{where}")

    # -- classes and allocation -------------------------------------------------
    def define_class(self, name: str, refs: Iterable[str] = (), scalars: Iterable[Any] = ()) -> type:
        """A new heap class; returns the Ref subclass its instances come back as.

        ``scalars`` items are a name (i64) or (name, "i64" | "f64")."""
        self._check_open()
        if not isinstance(name, str) or not name.isidentifier():
            raise InvalidOption(f"define_class: class name must be an identifier, got {name!r}")
        if isinstance(refs, str) or isinstance(scalars, str):
            raise InvalidOption("define_class: refs and scalars are lists of names, not a str")
        fields: dict[str, tuple[int, int]] = {}
        try:
            ref_names = list(refs)
            scalar_items = list(scalars)
        except TypeError:
            raise InvalidOption("define_class: refs and scalars must be lists of field names") from None
        scalar_specs = []
        for s in scalar_items:
            if isinstance(s, str):
                scalar_specs.append((s, "i64"))
            elif isinstance(s, tuple) and len(s) == 2 and s[1] in ("i64", "f64"):
                scalar_specs.append(s)
            else:
                raise InvalidOption(f"define_class: scalar {s!r} must be a name or (name, 'i64'|'f64')")
        for fname in ref_names + [s[0] for s in scalar_specs]:
            if not isinstance(fname, str) or not fname.isidentifier() or fname.startswith("_") \
                    or fname in _RESERVED:
                raise InvalidOption(f"define_class: bad field name {fname!r}")
            if fname in fields:
                raise InvalidOption(f"define_class: duplicate field {fname!r}")
            fields[fname] = (0, 0)
        if len(ref_names) > 65536 or len(scalar_specs) > 65536:
            raise InvalidOption("define_class: at most 65536 reference and 65536 scalar fields")
        with self._class_lock:
            if name in self._classes:
                raise InvalidOption(f"define_class: class {name!r} is already defined")
            cid = _ll.define_class(self._c, len(ref_names), len(scalar_specs))
            if cid < 0:
                raise self._error(cid, "define_class")
            return self._install_class(name, cid, ref_names, scalar_specs)

    def _install_class(self, name: str, cid: int, ref_names: list, scalar_specs: list) -> type:
        """The Ref subclass of heap class cid (defined in C already: by define_class,
        or by the snapshot a runtime was restored from)."""
        fields: dict[str, tuple[int, int]] = {}
        ns: dict[str, Any] = {"__slots__": (), "_class_id": cid, "_owner": self,
                              "ref_fields": tuple(ref_names),
                              "scalar_fields": tuple(scalar_specs)}
        for i, fname in enumerate(ref_names):
            fields[fname] = (_REF, 1 + i)
            ns[fname] = _ref_getter(fname, 1 + i)
        for j, (fname, kind) in enumerate(scalar_specs):
            idx = 1 + len(ref_names) + j
            if kind == "i64":
                fields[fname] = (_I64, idx)
                ns[fname] = _i64_getter(fname, idx)
            else:
                fields[fname] = (_F64, idx)
                ns[fname] = _f64_getter(fname, idx)
        ns["_fields"] = fields
        cls = type(name, (Instance,), ns)
        while len(self._types) <= cid:
            self._types.append(Ref)
        self._types[cid] = cls
        self._classes[name] = cls
        return cls

    def new(self, cls: type, **fields: Any) -> Instance:
        """A new instance of cls (from define_class); unset refs are None, scalars 0."""
        if getattr(cls, "_owner", None) is not self:
            self._check_class(cls)
        if fields:
            known = cls._fields
            for k in fields:
                if k not in known:
                    raise UnknownField(f"{cls.__name__} has no field {k!r}")
        r = _new_instance(self._c, cls._class_id)
        if r <= 0:
            raise self._error(r, f"new {cls.__name__}")
        # _wrap, inlined: allocation is the hottest path
        ref = _new_obj(self._types[r >> 32])
        _set_rt(ref, self)
        _set_h(ref, r & _MASK)
        if self._nscopes:
            scopes = getattr(self._tls, "scopes", None)
            if scopes:
                scopes[-1].append(ref)
        if fields:
            for k, v in fields.items():
                setattr(ref, k, v)
        return ref  # type: ignore[return-value]

    def _check_class(self, cls: Any) -> None:
        owner = getattr(cls, "_owner", None)
        if owner is None or not isinstance(cls, type) or not issubclass(cls, Instance):
            raise WrongType(f"new() expects a class made by define_class, got {cls!r}")
        if owner is not self:
            raise ForeignRef(f"class {cls.__name__} belongs to another runtime")

    def new_array(self, kind: str, length: int) -> _Array:
        """A new zeroed array: kind "ref" (elements None), "i64", "f64" or "u8"."""
        cid = _ARRAY_KINDS.get(kind) if isinstance(kind, str) else None
        if cid is None:
            raise InvalidOption(f"new_array: kind must be one of {', '.join(_ARRAY_KINDS)}, got {kind!r}")
        if isinstance(length, bool) or not isinstance(length, int):
            raise WrongType(f"new_array: length must be an int, got {type(length).__name__}")
        if length < 0 or length > 0xFFFFFFFF:
            raise InvalidOption(f"new_array: length must be in 0..2**32-1, got {length}")
        r = _ll.new_array(self._c, cid, length)
        if r <= 0:
            raise self._error(r, f"new_array {kind}[{length}]")
        return self._wrap(r)  # type: ignore[return-value]

    def new_str(self, text: str) -> Str:
        """A new UTF-8 string."""
        if not isinstance(text, str):
            raise WrongType(f"new_str takes a str, got {type(text).__name__}")
        data = text.encode("utf-8", errors="surrogatepass")
        if len(data) > 0xFFFFFFFF:
            raise InvalidOption("new_str: string longer than 4 GiB")
        self._check_open()
        r = _ll.new_str(self._c, data)
        if r <= 0:
            raise self._error(r, "new_str")
        return self._wrap(r)  # type: ignore[return-value]

    def scope(self) -> Scope:
        """``with rt.scope():`` frees the handles this thread creates inside the block."""
        return Scope(self)

    # -- collection and introspection --------------------------------------------
    def gc(self, wait: bool = True) -> GCReport:
        """A full collection now; returns its report. collector="cmc": wait=False
        returns right after the flip pause while compaction goes on (wait_gc())."""
        self._check_open()
        if not isinstance(wait, bool):
            raise InvalidOption(f"wait: expected True or False, got {wait!r}")
        if self._cmc is not None:
            return self._cmc.gc(wait)
        rc, p = _ll.gc(self._c)
        if rc:
            raise self._error(rc, "gc")
        return GCReport.from_pause(p)

    def wait_gc(self) -> "GCReport | None":
        """collector="cmc": waits until the running compaction is complete and returns
        the completed report of the last gc(wait=False) (None when there is none)."""
        self._check_open()
        return self._cmc.wait_gc() if self._cmc is not None else None

    def cycles(self) -> list[dict]:
        """collector="cmc": every cycle so far, oldest first: its cause, whether it
        marked concurrently, its pauses (pause_seq into stats()["pauses"]), the
        durations of its concurrent phases (mark_s, preclean_s, prepare_s,
        compaction_s), gc_cpu_s, allocation stalls, marked / black / floating bytes
        (floating_bytes: bytes first marked from a reference the barrier logged, an
        upper bound of what died during marking; floating_checked_bytes, with
        checks="checkmark": the bytes marked or allocated during marking that were
        unreachable at the final remark, exactly; -1 without), longest_pause_s. [] for stw."""
        self._check_open()
        return self._cmc.cycles() if self._cmc is not None else []

    @property
    def concurrent(self) -> bool:
        """True when collections compact concurrently (collector="cmc" and no fallback)."""
        return self._cmc is not None and self._cmc.concurrent_capable

    def verify(self) -> None:
        """Walks the heap and every root; raises HeapCorruption naming the first bad object."""
        self._check_open()
        rc, msg = _ll.verify(self._c)
        if rc == -errno.EFAULT:
            raise HeapCorruption(msg)
        if rc:
            raise self._error(rc, "verify")

    def heap_info(self) -> dict:
        """The heap now: address (its start); reservation (= capacity: the maximum heap,
        reserved once); soft_limit (allocation stays below address + soft_limit; it
        follows the live data after each collection); used (bytes below the
        allocation top, unused TLAB space included); live (after the last
        collection); resident (bytes of the heap mapping in memory); page_size;
        tlab_bytes."""
        self._check_open()
        rc, info = _ll.heap_info(self._c)
        if rc:
            raise self._error(rc, "heap_info")
        return info

    def _pauses(self) -> list:
        """Every pause so far (GCReport), without stats()'s summary (which loads numpy)."""
        self._check_open()
        return [GCReport.from_pause(p) for p in _ll.pauses(self._c)]

    def stats(self) -> dict:
        """Cumulative counts, every pause (a list of GCReport) and a pause summary
        (count, p50, p90, p99, p99.9, max, total in seconds). collector="cmc" adds
        "cmc": sums over every concurrent cycle (pages_by_gc, pages_by_mutator, ...;
        see CmcState.totals)."""
        self._check_open()
        rc, s = _ll.stats(self._c)
        if rc:
            raise self._error(rc, "stats")
        out = {k: v for k, v in s.items() if not k.endswith("_ns")}
        out["total_pause_s"] = s["total_pause_ns"] / 1e9
        out["max_pause_s"] = s["max_pause_ns"] / 1e9
        out["pauses"] = [GCReport.from_pause(p) for p in _ll.pauses(self._c)]
        out["pause_summary"] = pause_summary([p.pause_s for p in out["pauses"]])
        if self._cmc is not None:
            out["cmc"] = self._cmc.totals()
        return out

    def trace(self, path) -> None:
        """Writes this runtime's timeline so far (every pause with its phases; with a
        gcheap.runtime.timeline.Recorder running: concurrent compaction, RSS, allocation) as
        Chrome trace-event JSON, which Perfetto UI opens."""
        self._check_open()
        from gcheap.runtime.timeline import write_trace
        write_trace(self, path)

    def debug_compact_image(self) -> bytes:
        """The compacted heap that gr_compact_page builds from a copy of the heap
        (the heap itself is left as it is). For tests of the shared page routine."""
        self._check_open()
        rc, data = _ll.debug_compact_to_buffer(self._c, self.heap_info()["capacity"])
        if rc < 0:
            raise self._error(int(rc), "debug_compact_image")
        return data

    # -- snapshots, swap, restore (gcheap.runtime.snapshot, docs/snapshot.md) -----------
    def snapshot(self, path, wait: bool = True, *, mode: str = "dontunmap", fault_mode: str = "sigbus",
                 chunk_pages: int = 16, fsync: bool = False, batch_bytes: int = 1 << 20, **testing):
        """Writes a point-in-time image of the heap (and of the classes and named
        global roots) to path while the program runs; returns its SnapshotReport,
        or with wait=False a SnapshotOperation (``.wait()``) right after the pause.

        mode "dontunmap" (the design): the only pause is the flip, the heap's pages
        moving to staging; mutators touching a page meanwhile get a copy
        (fault_mode "sigbus": in their own thread; "thread": by a server thread).
        "wp" (pre-copy rounds under write-protection, the last in a pause) and
        "stw" (the whole write in a pause) are the ablation baselines. A running
        cmc compaction finishes first; a collection requested meanwhile waits.
        Raises SnapshotWriteError when the file cannot be written (the heap is
        intact, the partial file removed)."""
        from gcheap.runtime.snapshot import start
        return start(self, path, wait=wait, mode=mode, fault_mode=fault_mode, chunk_pages=chunk_pages,
                     fsync=fsync, batch_bytes=batch_bytes, swap=False, **testing)

    def swap_out(self, path=None, wait: bool = True, *, fault_mode: str = "sigbus", chunk_pages: int = 16,
                 fsync: bool = False, batch_bytes: int = 1 << 20, **testing):
        """Writes the heap to path (default: the last swap file) and releases its
        memory while the program runs; later accesses fault pages back from the
        file (RSS grows with what is touched). Zero pages are never written; a
        swap-out into the same file again writes only the chunks changed since
        the last one. A collection brings every page back first."""
        if path is None:
            if self._swap_path is None:
                raise InvalidOption("swap_out: a path is needed for the first swap-out")
            path = self._swap_path
        from gcheap.runtime.snapshot import start
        return start(self, path, wait=wait, mode="dontunmap", fault_mode=fault_mode, chunk_pages=chunk_pages,
                     fsync=fsync, batch_bytes=batch_bytes, swap=True, **testing)

    def swap_in(self, wait: bool = False) -> None:
        """Brings every swapped-out page back, in the background (CRIU-style chunks
        that grow while no fault arrives); wait=True returns when all are in."""
        self._check_open()
        _ll.swap_in(self._c, wait)

    @property
    def swap_state(self) -> str:
        """"none", "out" (pages served from the swap file), "in" (coming back),
        "tracking" (resident; the next swap-out writes only what changed)."""
        self._check_open()
        return _ll.swap_state(self._c)

    @classmethod
    def restore(cls, path, lazy: bool = True, *, collector: "str | None" = None,
                restore_fault_mode: str = "sigbus", verify_file: bool = False, mmap: bool = False,
                prefetch: bool = True, **options: Any) -> "Runtime":
        """A runtime from a snapshot file (in a new process: the heap goes at its
        recorded address; HeapAddressInUse when that range is taken). lazy: pages
        come from the file when first touched and from a background filler (a
        collection waits until all are in); lazy=False reads them all first.
        restore_fault_mode: how the lazy restore's page server serves faults
        ("sigbus" or "thread"). prefetch=False: no background filler (a lazy
        restore's pages then come only when touched, or all at once when a
        collection needs them); mmap: copy from a read-only mapping of the file
        instead of pread. verify_file: check every chunk's checksum before
        anything is mapped. A bad file raises SnapshotFormatError
        (SnapshotCorrupt, SnapshotTruncated, SnapshotVersionError) with nothing
        mapped. collector: default, the one the snapshot was taken under.

        options are the Runtime's: verify, stress, the collector's options (cmc's
        fault_mode, gc_threads, ...) and heap sizing (heap_initial within the
        snapshot's capacity, target_utilization, min_free, max_free; what is not
        given is the snapshot's). heap_size raises InvalidOption: the capacity is
        the snapshot's."""
        from gcheap.runtime.snapshot import restore
        return restore(cls, path, lazy=lazy, collector=collector, restore_fault_mode=restore_fault_mode,
                       verify_file=verify_file, mmap=mmap, prefetch=prefetch, options=options)

    def wait_restored(self, timeout: "float | None" = None) -> bool:
        """A lazy restore: waits until every page is in (False on timeout)."""
        self._check_open()
        return _ll.restore_wait(self._c, -1 if timeout is None else int(timeout * 1000))

    def page_server_stats(self) -> "dict | None":
        """The page server of a lazy restore or a swapped-out heap (faults, blocks
        installed by faults and by the filler, bytes read), or None."""
        self._check_open()
        return _ll.server_stats(self._c)

    # -- lifecycle ------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Releases the heap; every later use raises RuntimeClosed. Idempotent.
        Raises RuntimeBusy (and stays open) while an interpreter program runs on it."""
        if self._closed:
            return
        with self._programs_lock:
            if self._programs and self._programs_pid == os.getpid():   # a fork child runs none of them
                raise RuntimeBusy(f"{self._programs} interpreter program(s) running on this runtime: "
                                  "close it when run_file returns")
            recorder = getattr(self, "_timeline_recorder", None)
            if recorder is not None:
                recorder.stop()                           # its thread reads the C statistics
            # snapshots done, swapped pages back: only a runtime that took, swapped or was
            # restored from one needs it, and each of those imported the module (a plain
            # run does not pay for importing it at close)
            snapshot = sys.modules.get("gcheap.runtime.snapshot")
            if snapshot is not None:
                snapshot.release(self)
            rc = _ll.runtime_close(self._c)
        if rc == -errno.EBUSY:
            raise RuntimeBusy("an interpreter program is running on this runtime: close it when run_file returns")
        self._closed = True

    def _program_started(self) -> None:
        """run_file: a program is about to run (close() refuses until _program_ended)."""
        with self._programs_lock:
            self._check_open()
            if self._programs_pid != os.getpid():
                self._programs, self._programs_pid = 0, os.getpid()
            self._programs += 1

    def _program_ended(self) -> None:
        with self._programs_lock:
            if self._programs_pid == os.getpid():
                self._programs -= 1

    def __enter__(self) -> "Runtime":
        self._check_open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.options['heap_size']} bytes"
        return f"<gcheap.Runtime {self.collector} {state}>"
