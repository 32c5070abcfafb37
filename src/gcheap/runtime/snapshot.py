"""Heap snapshots taken while the program runs, swap-out to a file, and restore.

``rt.snapshot(path)``: the only pause is the flip (the heap's pages move to a
staging reservation with mremap(MREMAP_DONTUNMAP), the heap range is registered
with a page server); the mutators go on, a page they touch is copied from
staging, and a writer thread streams staging to the file and gives every page it
wrote back (UFFDIO_MOVE). ``rt.swap_out(path)`` writes the heap the same way and
then releases it: its pages fault back from the file; ``rt.swap_in()`` brings
them back in the background. ``Runtime.restore(path)`` makes a runtime of the
file in another process, at the heap's recorded address, lazily or eagerly.
See docs/snapshot.md; the C side is csrc/snapshot.

The file also holds what Python knows of the heap: class names and fields,
named global roots (the JSON "meta" section).
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gcheap import _lowlevel as _ll
from gcheap.errors import InvalidOption, RuntimeBusy, SnapshotCorrupt, SnapshotError, SnapshotWriteError

if TYPE_CHECKING:
    import numpy as np

    from gcheap.runtime.runtime import Runtime

META_FORMAT = "gcheap-heap/1"
MODES = tuple(_ll.GS_MODES)
FAULT_MODES = tuple(_ll.GS_FAULT_MODES)


@dataclass(frozen=True)
class SnapshotReport:
    """What one snapshot (or swap-out) did, in the style of GCReport.

    pause_s: the only stop of the world (DONTUNMAP: the flip; STW: the whole
    write; WP: the last round). write_s: from the first data write to the header.
    bytes_written: data bytes (zero pages are never written); pages_served: pages
    the mutators' faults brought in while it was written (from staging; a swap's
    also from the file); pages_moved_back: pages the writer gave back with
    UFFDIO_MOVE (move_fallback: the kernel lacks it, so with UFFDIO_COPY, the
    staged originals dropped); peak_extra_rss: the process's RSS above what it
    was at the pause, sampled while writing; stalls_s: the stall times of those
    faults (DONTUNMAP)."""

    path: str
    kind: str = "snapshot"
    mode: str = "dontunmap"
    pause_s: float = 0.0
    flip_s: float = 0.0
    write_s: float = 0.0
    total_s: float = 0.0
    heap_bytes: int = 0
    bytes_written: int = 0
    file_bytes: int = 0
    metadata_bytes: int = 0
    pages_written: int = 0
    zero_pages: int = 0
    pages_served: int = 0
    pages_moved_back: int = 0
    pages_reused: int = 0
    rss_before: int = 0
    peak_extra_rss: int = 0
    wp_rounds: int = 0
    wp_final_pages: int = 0
    move_fallback: bool = False
    stalls_s: np.ndarray = field(default_factory=lambda: _ll.doubles(None, 0), repr=False)

    def as_dict(self) -> dict:
        import numpy as np
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "stalls_s"}
        st = self.stalls_s
        d["stalls"] = len(st)
        d["stall_p50_s"] = float(np.percentile(st, 50)) if len(st) else 0.0
        d["stall_p99_s"] = float(np.percentile(st, 99)) if len(st) else 0.0
        return d

    def __str__(self) -> str:
        return (f"{self.kind} ({self.mode}) of {self.heap_bytes} B to {self.path}: pause {self.pause_s * 1e3:.3f} ms, "
                f"wrote {self.bytes_written} B in {self.write_s * 1e3:.1f} ms ({self.zero_pages} zero pages skipped), "
                f"{self.pages_served} pages served to mutators, peak extra RSS {self.peak_extra_rss} B")


def _meta(rt: "Runtime") -> bytes:
    classes = []
    for name, cls in rt._classes.items():
        classes.append({"id": cls._class_id, "name": name, "refs": list(cls.ref_fields),
                        "scalars": [list(s) for s in cls.scalar_fields]})
    index, free = rt.globals._table()
    return json.dumps({"format": META_FORMAT, "collector": rt.collector, "classes": classes,
                       "globals": index, "globals_free": free}, sort_keys=True).encode()


def _parse_meta(raw: bytes, path: str, nclasses: int) -> dict:
    """The meta section (JSON), checked before anything is created from it: its
    checksum is right, so a section that does not parse or does not describe the
    file's classes was crafted; SnapshotCorrupt either way."""
    def bad(why: str) -> SnapshotCorrupt:
        return SnapshotCorrupt(errno.EBADMSG, f"corrupt: the meta section {why}", path)
    try:
        meta = json.loads(raw.decode()) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad("is not JSON") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("classes", []), list):
        raise bad("is not an object with a list of classes")
    names, ids = set(), set()
    for c in meta.get("classes", []):
        ok = (isinstance(c, dict) and isinstance(c.get("id"), int) and isinstance(c.get("name"), str)
              and isinstance(c.get("refs"), list) and all(isinstance(r, str) for r in c["refs"])
              and isinstance(c.get("scalars"), list)
              and all(isinstance(x, list) and len(x) == 2 and isinstance(x[0], str) and x[1] in ("i64", "f64")
                      for x in c["scalars"]))
        if not ok or not _ll.GR_FIRST_USER_CLASS <= c["id"] < nclasses:
            raise bad(f"describes a class it cannot hold: {str(c)[:80]}")
        if c["name"] in names or c["id"] in ids:
            raise bad(f"names class {c['name']!r} (id {c['id']}) twice")
        names.add(c["name"])
        ids.add(c["id"])
    return meta


def _global_slots(meta: dict, path: str) -> tuple[dict[str, int], list[int]]:
    """The named global roots and the free slots recorded in meta, checked: no slot
    twice. A file written before the free slots were recorded: the slots below the
    highest named one that no name holds (none is reused while live)."""
    try:
        index = {str(k): int(v) for k, v in meta.get("globals", {}).items()}
        if "globals_free" in meta:
            free = [int(v) for v in meta["globals_free"]]
        else:
            top = max(index.values(), default=-1) + 1
            free = sorted(set(range(top)) - set(index.values()), reverse=True)
    except (AttributeError, TypeError, ValueError):
        raise SnapshotCorrupt(errno.EBADMSG, "corrupt: the global roots in the meta section are malformed",
                              path) from None
    slots = list(index.values()) + free
    if len(set(slots)) != len(slots) or any(v < 0 for v in slots):
        raise SnapshotCorrupt(errno.EBADMSG, "corrupt: the meta section gives a global root slot twice", path)
    return index, free


class SnapshotOperation:
    """A snapshot or swap-out under way: ``wait()`` returns its SnapshotReport."""

    def __init__(self, rt: "Runtime", op, fd: int, path: str, kind: str, remove_on_error: bool) -> None:
        self._rt, self._op, self._fd, self.path, self.kind = rt, op, fd, path, kind
        self._remove = remove_on_error
        self._report: SnapshotReport | None = None
        self._error: Exception | None = None
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        if self._op is None:
            return True
        rc, rep = _ll.op_wait(self._op, 0)
        return rc != -errno.ETIMEDOUT

    def wait(self, timeout: float | None = None) -> SnapshotReport:
        """The report once the file is complete; raises SnapshotWriteError if it could
        not be (the heap is intact; the partial file removed, except an incremental
        swap-out's, which still holds the previous image), TimeoutError on timeout."""
        with self._lock:
            if self._op is not None:
                rc, rep = _ll.op_wait(self._op, -1 if timeout is None else int(timeout * 1000))
                if rc == -errno.ETIMEDOUT:
                    raise TimeoutError(f"{self.kind} to {self.path} still being written")
                stalls = _ll.op_stalls(self._op)
                _ll.op_free(self._op)
                self._op = None
                os.close(self._fd)
                self._rt._snapshot_ops.discard(self)
                if rep["error"]:
                    e = -rep["error"]
                    why = {errno.ECANCELED: "the writer thread died"}.get(e, os.strerror(e))
                    self._error = SnapshotWriteError(e, f"{self.kind} not written: {why}; the heap is intact",
                                                     self.path)
                    if self._remove:
                        try:
                            os.unlink(self.path)
                        except OSError:
                            pass
                else:
                    fields = {k: rep[k] for k in _ll.REPORT_FIELDS}
                    self._report = SnapshotReport(path=self.path, kind=rep["kind"], mode=rep["mode"],
                                                  stalls_s=stalls, **fields)
            if self._error is not None:
                raise self._error
            return self._report  # type: ignore[return-value]


def _open(path, truncate: bool) -> tuple[int, str]:
    path = os.fspath(path)
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if truncate else 0)
    return os.open(path, flags, 0o644), path


def _check_args(mode: str, fault_mode: str, chunk_pages: int, wait: bool) -> None:
    if mode not in _ll.GS_MODES:
        raise InvalidOption(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if fault_mode not in _ll.GS_FAULT_MODES:
        raise InvalidOption(f"fault_mode must be 'sigbus' or 'thread', got {fault_mode!r}")
    if not isinstance(chunk_pages, int) or isinstance(chunk_pages, bool) or not 1 <= chunk_pages <= 64 \
            or chunk_pages & (chunk_pages - 1):
        raise InvalidOption(f"chunk_pages must be a power of two in 1..64, got {chunk_pages!r}")
    if not isinstance(wait, bool):
        raise InvalidOption(f"wait: expected True or False, got {wait!r}")


def _raise_start(rt: "Runtime", rc: int, what: str, path: str) -> None:
    if rc == -errno.ESHUTDOWN:
        raise rt._error(rc, what)
    if rc == -errno.EBUSY:
        raise RuntimeBusy(f"{what}: another snapshot or swap-out of this heap is under way")
    if rc == -errno.EOPNOTSUPP:
        raise SnapshotError(-rc, f"{what}: this kernel lacks what mode needs (gcheap doctor)", path)
    raise SnapshotWriteError(-rc, f"{what} failed: {os.strerror(-rc)}; the heap is intact", path)


def start(rt: "Runtime", path, *, wait: bool, mode: str, fault_mode: str, chunk_pages: int, fsync: bool,
          batch_bytes: int, swap: bool, inject: tuple | None = None, wp_rounds: int = 0,
          writer_delay_us: int = 0):
    """rt.snapshot / rt.swap_out. Testing only: inject=(point, nth, errno) with point
    "write", "writer_dies" or "flip"; writer_delay_us (the writer sleeps after each
    batch, mode "wp" after each pre-copy round); wp_rounds (mode "wp": pre-copy rounds at most)."""
    rt._check_open()
    _check_args(mode, fault_mode, chunk_pages, wait)
    for name, v in (("wp_rounds", wp_rounds), ("writer_delay_us", writer_delay_us)):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 1_000_000:
            raise InvalidOption(f"{name} must be an int in [0, 1000000], got {v!r}")
    if inject is not None and (not isinstance(inject, tuple) or len(inject) != 3 or inject[0] not in _ll.GS_INJ):
        raise InvalidOption(f"inject must be (point, nth, errno) with point in {sorted(_ll.GS_INJ)}")
    if not isinstance(batch_bytes, int) or isinstance(batch_bytes, bool) or not 4096 <= batch_bytes <= 1 << 30:
        raise InvalidOption(f"batch_bytes must be an int in [4096, 1 GiB], got {batch_bytes!r}")
    what = "swap_out" if swap else "snapshot"
    if swap and mode != "dontunmap":
        raise InvalidOption("swap_out writes by mode 'dontunmap' only")
    truncate = True
    if swap:
        state = _ll.swap_state(rt._c)
        if state != "none" and rt._swap_path is not None and os.path.abspath(os.fspath(path)) != rt._swap_path:
            _ll.release(rt._c)          # another file: the old swap comes back in first
            state = "none"
        truncate = state == "none"
    fd, path = _open(path, truncate)
    cfg, keep = _ll.config(mode, fault_mode, chunk_pages, fsync, batch_bytes, _meta(rt), inject, wp_rounds,
                           writer_delay_us)
    rc, op = _ll.snapshot_start(rt._c, fd, cfg, swap)
    del keep
    if rc < 0:
        os.close(fd)
        if truncate:
            try:
                os.unlink(path)
            except OSError:
                pass
        _raise_start(rt, rc, what, path)
    if swap:
        rt._swap_path = os.path.abspath(path)
    handle = SnapshotOperation(rt, op, fd, path, "swap" if swap else "snapshot", remove_on_error=truncate)
    rt._snapshot_ops.add(handle)
    return handle.wait() if wait else handle


# ---------------------------------------------------------------- reading files

def info(path, verify: bool = True) -> dict:
    """A snapshot file's header, sizes, classes and global roots; verify: every
    chunk's checksum too ("verified": True, or "bad_chunk")."""
    path = os.fspath(path)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        d, meta = _ll.file_info(fd, path)
        d["meta"] = _parse_meta(meta, path, d["nclasses"])
        if verify:
            rc, bad = _ll.file_verify(fd)
            d["verified"] = rc == 0
            if rc < 0:
                d["bad_chunk"] = bad
                d["verify_error"] = str(_ll.format_error(rc, path))
        return d
    finally:
        os.close(fd)


# ---------------------------------------------------------------- restore

def _check_runtime_options(hdr: dict, options: dict) -> None:
    """The Runtime options a restored runtime cannot have: InvalidOption, before
    anything is mapped. Its capacity and address are the snapshot's; heap sizing
    given must fit them and the recorded sizing it partly replaces."""
    from gcheap.runtime.runtime import parse_size
    cap = hdr["heap_capacity"]
    if "heap_size" in options:
        raise InvalidOption(f"heap_size: a restored heap has the snapshot's capacity ({cap} bytes) at its recorded "
                            "address (objects hold raw addresses): the file decides it")
    if options.get("heap_initial") is not None:
        initial = parse_size(options["heap_initial"], "heap_initial")
        if initial > cap:
            raise InvalidOption(f"heap_initial: {initial} bytes is more than the snapshot's heap capacity "
                                f"({cap} bytes)")
    given = {name: parse_size(options[name], name) for name in ("min_free", "max_free")
             if options.get(name) is not None}
    min_free = given.get("min_free", hdr["sizing_min_free"])
    max_free = given.get("max_free", hdr["sizing_max_free"])
    if max_free < min_free:
        raise InvalidOption(f"max_free ({max_free} bytes) must be at least min_free ({min_free} bytes); "
                            "the one not given is the snapshot's")


def restore(cls, path, *, lazy: bool, collector: str, restore_fault_mode: str, verify_file: bool, mmap: bool,
            prefetch: bool, options: dict) -> "Runtime":
    from gcheap.runtime.runtime import COLLECTORS
    if restore_fault_mode not in _ll.GS_FAULT_MODES:
        raise InvalidOption(f"restore_fault_mode must be 'sigbus' or 'thread', got {restore_fault_mode!r}")
    for name, v in (("lazy", lazy), ("verify_file", verify_file), ("mmap", mmap), ("prefetch", prefetch)):
        if not isinstance(v, bool):
            raise InvalidOption(f"{name}: expected True or False, got {v!r}")
    path = os.fspath(path)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        hdr, meta_raw = _ll.file_info(fd, path)
        meta = _parse_meta(meta_raw, path, hdr["nclasses"])
        global_index, global_free = _global_slots(meta, path)
        _check_runtime_options(hdr, options)
        if collector is None:
            collector = meta.get("collector", "stw")
            collector = collector if collector in COLLECTORS else "stw"

        def create(size, collector_id, opts, sizing, collector_config=None):
            rc, c = _ll.restore(fd, path, collector_id, opts, collector_config, lazy, restore_fault_mode, mmap,
                                verify_file, prefetch=prefetch, sizing=sizing)
            if rc in (-errno.ENOEXEC, -errno.EPROTONOSUPPORT, -errno.ENODATA, -errno.EBADMSG, -errno.EADDRINUSE):
                raise _ll.format_error(rc, path)
            return rc, c

        rt = cls(heap_size=hdr["heap_capacity"], collector=collector, _create=create, **options)
    finally:
        os.close(fd)
    rt._restored_from = path
    for c in sorted(meta.get("classes", []), key=lambda c: c["id"]):
        rt._install_class(c["name"], c["id"], c["refs"], [tuple(s) for s in c["scalars"]])
    rt.globals._load(global_index, global_free)
    return rt


def release(rt: "Runtime") -> None:
    """Before close: operations finished, swapped pages back, restore filled."""
    for op in list(rt._snapshot_ops):
        try:
            op.wait()
        except SnapshotError:
            pass
    _ll.release(rt._c)

