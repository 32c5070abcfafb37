"""Runtime.restore(): a runtime from a snapshot file in a new process, lazily (pages
from the file on first touch and from a background filler) or eagerly; classes
and global roots come back; it collects under both collectors. A file that is
not a snapshot, truncated, corrupt or of another version is a typed error with
nothing mapped; a taken address range is HeapAddressInUse; a file that vanishes
under a lazy restore is a clear fatal error, never zeros."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gcheap
from gcheap import _lowlevel as ll
from gcheap.errors import (HeapAddressInUse, InvalidOption, SnapshotCorrupt, SnapshotFormatError, SnapshotTruncated,
                           SnapshotVersionError)
from gcheap.snapshot import info

pytestmark = pytest.mark.uffd
ROOT = Path(__file__).resolve().parents[2]
N = 3000


def make_snapshot(path, collector="stw") -> int:
    """A snapshot of a small graph; returns its heap address."""
    with gcheap.Runtime("64M", collector=collector) as rt:
        Node = rt.define_class("Node", refs=["next"], scalars=["v", ("w", "f64")])
        rt.define_class("Unused", refs=["a", "b"])
        arr = rt.new_array("ref", N)
        prev = None
        for i in range(N):
            prev = arr[i] = rt.new(Node, v=i, w=i * 0.5, next=prev)
        rt.globals["arr"] = arr
        rt.globals["name"] = rt.new_str("héllo")
        rt.globals["nothing"] = None
        rt.snapshot(path)
        return rt.heap_info()["address"]


CHILD = """
import sys, gcheap
rt = gcheap.Runtime.restore(sys.argv[1], lazy=sys.argv[2] == "lazy", collector=sys.argv[3],
                            restore_fault_mode=sys.argv[4])
arr = rt.globals["arr"]
first = arr[1234].v
stats = rt.page_server_stats()
ok = all(arr[i].v == i and arr[i].w == i * 0.5 for i in range(0, 3000, 37))
ok = ok and arr[10].next.v == 9 and str(rt.globals["name"]) == "héllo" and rt.globals["nothing"] is None
Node = rt._classes["Node"]
assert set(rt._classes) == {"Node", "Unused"} and Node.ref_fields == ("next",)
fresh = rt.new(Node, v=-1, next=arr[0])
rt.globals["fresh"] = fresh
rt.gc(); rt.verify()
ok = ok and all(arr[i].v == i for i in range(0, 3000, 37)) and rt.globals["fresh"].next.v == 0
rt.wait_restored()
print(first, ok, stats is not None, rt.collector)
rt.close()
"""


@pytest.mark.parametrize("collector", ["stw", "cmc"])
@pytest.mark.parametrize("lazy,fault_mode", [("lazy", "sigbus"), ("lazy", "thread"), ("eager", "sigbus")])
def test_restore_in_a_new_process_brings_back_classes_roots_and_objects(tmp_path, collector, lazy, fault_mode):
    path = tmp_path / "s"
    make_snapshot(path)
    p = subprocess.run([sys.executable, "-c", CHILD, str(path), lazy, collector, fault_mode], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1234", "True", str(lazy == "lazy"), collector]


GLOBALS_CHILD = """
import json, sys, gcheap
rt = gcheap.Runtime.restore(sys.argv[1])
for name in ("d", "e", "f"):
    rt.globals[name] = rt.new_str(name * 3)
rt.gc(); rt.verify()
print(json.dumps({"values": {n: str(rt.globals[n]) for n in rt.globals}, "slots": dict(rt.globals._index)}))
rt.close()
"""


def test_restored_global_roots_get_the_slots_the_original_would_give(tmp_path):
    """A deleted global root's slot is free in the restored runtime too: new roots
    take free slots in the original's order and never a live one."""
    path = tmp_path / "s"
    with gcheap.Runtime("64M") as rt:
        for name in ("a", "b", "c"):
            rt.globals[name] = rt.new_str(name * 3)
        del rt.globals["b"]
        rt.snapshot(path)
        for name in ("d", "e", "f"):                     # what the original does next
            rt.globals[name] = rt.new_str(name * 3)
        expected_slots = dict(rt.globals._index)
    p = subprocess.run([sys.executable, "-c", GLOBALS_CHILD, str(path)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["values"] == {n: n * 3 for n in ("a", "c", "d", "e", "f")}
    assert out["slots"] == expected_slots


OPTIONS_CHILD = """
import json, sys, gcheap
rt = gcheap.Runtime.restore(sys.argv[1], collector="cmc", restore_fault_mode="thread", verify_file=True,
                            fault_mode="thread", verify=True, gc_threads=1)
rep = rt.gc()
out = {"verify": "verify_before" in rep.phases, "cmc_fault_mode": rt._cmc.options.machinery.fault_mode,
       "ok": rt.globals["arr"][5].v == 5}
rt.close()
rt = gcheap.Runtime.restore(sys.argv[1], heap_initial="4M", min_free="4M", max_free="6M", target_utilization=0.25)
out["soft_before"] = rt.heap_info()["soft_limit"]
rt.gc()
out["soft_after"], out["live"] = rt.heap_info()["soft_limit"], rt.heap_info()["live"]
rt.close()
print(json.dumps(out))
"""


def test_restore_passes_the_runtime_options_on_and_refuses_those_the_file_decides(tmp_path):
    """The restore's own options (restore_fault_mode, verify_file) no longer take the
    names of the runtime's: verify and cmc's fault_mode reach the runtime, and so
    does heap sizing within the recorded capacity; heap_size cannot apply."""
    path = tmp_path / "s"
    make_snapshot(path)
    capacity = info(path, verify=False)["heap_capacity"]
    with pytest.raises(InvalidOption, match="heap_size.*the snapshot"):
        gcheap.Runtime.restore(path, heap_size="128M")
    with pytest.raises(InvalidOption, match="heap_initial.*capacity"):
        gcheap.Runtime.restore(path, heap_initial=capacity + (2 << 20))
    with pytest.raises(InvalidOption, match="max_free.*min_free"):
        gcheap.Runtime.restore(path, max_free="1M")          # below the snapshot's min_free (2 MiB)
    with pytest.raises(InvalidOption, match="collector='cmc'"):
        gcheap.Runtime.restore(path, fault_mode="thread")    # cmc's option; the snapshot's collector is stw
    with pytest.raises(InvalidOption):
        gcheap.Runtime.restore(path, restore_fault_mode="poll")
    p = subprocess.run([sys.executable, "-c", OPTIONS_CHILD, str(path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["verify"] and out["cmc_fault_mode"] == "thread" and out["ok"]
    assert out["soft_before"] == 4 << 20                     # heap_initial: the first soft limit
    assert out["soft_after"] == (out["live"] + (4 << 20) + 4095) & ~4095   # live + min_free (target 0.25)


IMPORTS = """
import sys, gcheap
rt = gcheap.Runtime.restore(sys.argv[1])
print(rt.globals["arr"][7].v, "numpy" in sys.modules, "gcheap.runtime.cmc" in sys.modules)
rt.close()
"""


def test_a_restore_imports_neither_numpy_nor_the_unused_collector(tmp_path):
    """What a new process pays before its first object read: importing numpy was
    most of bench/snapshot.py's "first object read (lazy)" at 1 GiB (92 ms; the
    restore itself takes ~5 ms). Nothing on the path to a stw runtime's first read
    needs numpy (stall arrays import it when they are made) or collector cmc's
    module."""
    path = tmp_path / "s"
    make_snapshot(path)
    p = subprocess.run([sys.executable, "-c", IMPORTS, str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["7", "False", "False"]


def test_the_address_range_taken_is_a_typed_error(tmp_path):
    path = tmp_path / "s"
    with gcheap.Runtime("64M") as rt:
        rt.globals["x"] = rt.new_str("x")
        rt.snapshot(path)
        with pytest.raises(HeapAddressInUse):           # the original still lives there
            gcheap.Runtime.restore(path)


HEADER = "struct gs_header"


def read_header(data: bytes):
    """The file's header as the C struct (csrc/include/gcheap/snapshot.h): fields by name."""
    h = ll.ffi.new(f"{HEADER} *")
    ll.ffi.memmove(h, data[: ll.ffi.sizeof(HEADER)], ll.ffi.sizeof(HEADER))
    return h


def header_checksum(h) -> int:
    """gs_header_checksum: the header up to its checksum field, zero-padded to a multiple of 32."""
    n = ll.ffi.offsetof(HEADER, "header_checksum")
    padded = (ll.ffi.sizeof(HEADER) + 31) & ~31
    return ll.checksum(bytes(ll.ffi.buffer(h))[:n] + bytes(padded - n))


def metadata_checksum(section: bytes) -> int:
    """The checksum of [classes_off, file_bytes): whole 32-byte stripes, then the
    rest zero-padded to 32 bytes (32 zero bytes when none is left), XOR the length."""
    whole = len(section) & ~31
    tail = section[whole:]
    return ll.checksum(section[:whole] + tail + bytes(32 - len(tail))) ^ len(section)


def write_header(data: bytearray, h, seal: bool) -> None:
    """Puts h back at offset 0; seal: with its checksum recomputed (a well-formed
    header that lies), else as it is (a damaged one)."""
    if seal:
        h.header_checksum = header_checksum(h)
    data[: ll.ffi.sizeof(HEADER)] = bytes(ll.ffi.buffer(h))


# A field of a well-checksummed header that no file gcheap writes can hold:
# the loader's own checks must reject it (not the header checksum).
LIES = {
    "nchunks": lambda h: setattr(h, "nchunks", 1 << 40),            # sections outside the file
    "heap_address": lambda h: setattr(h, "heap_address", 0),        # "anywhere": not a snapshot's heap
    "address_overflow": lambda h: setattr(h, "heap_address", (1 << 64) - (2 << 20)),
    "capacity": lambda h: setattr(h, "heap_capacity", 2 << 40),     # beyond gcheap's 1 TiB maximum heap
    "used": lambda h: setattr(h, "used", h.heap_capacity + 8),
    "live": lambda h: setattr(h, "live", h.heap_capacity + 8),
    "sizing": lambda h: setattr(h, "sizing_min_free", h.sizing_max_free + 4096),
    "initial": lambda h: setattr(h, "sizing_initial", h.heap_capacity + (2 << 20)),
    "kind": lambda h: setattr(h, "kind", 7),
    "mode": lambda h: setattr(h, "mode", 9),
    "collector": lambda h: setattr(h, "collector", 42),
}


def damage(path, how: str) -> type:
    data = bytearray(Path(path).read_bytes())
    h = read_header(data)
    assert header_checksum(h) == h.header_checksum          # the test computes it as the writer does
    if how == "empty":
        Path(path).write_bytes(b"")
        return SnapshotFormatError
    if how == "junk":
        Path(path).write_bytes(os.urandom(10000))
        return SnapshotFormatError
    if how == "truncated":
        Path(path).write_bytes(data[:-100])
        return SnapshotTruncated
    if how == "header_bit":                                 # caught by the header checksum
        data[ll.ffi.offsetof(HEADER, "heap_address") + 3] ^= 1
        Path(path).write_bytes(data)
        return SnapshotCorrupt
    if how == "version":
        h.version = 2
        write_header(data, h, seal=True)
        Path(path).write_bytes(data)
        return SnapshotVersionError
    user_class = h.classes_off + 8 * 16 + 4                 # class records: u32 kind, nrefs, nscalars, size;
                                                            # the first user class is record 8: its nrefs
    if how == "metadata":                                   # caught by the metadata checksum
        data[user_class] ^= 0x40
        Path(path).write_bytes(data)
        return SnapshotCorrupt
    if how == "class_lies":                                 # both checksums right, a class that cannot be
        data[user_class] ^= 0x40
        h.metadata_checksum = metadata_checksum(bytes(data[h.classes_off:h.file_bytes]))
        write_header(data, h, seal=True)
        Path(path).write_bytes(data)
        return SnapshotCorrupt
    if how.startswith("meta_"):                             # both checksums right, a meta section that does
        meta = bytes(data[h.meta_off:h.meta_off + h.meta_len])   # not parse or names a field-less class
        if how == "meta_json":
            meta = b"!" + meta[1:]
        elif how == "meta_class":
            assert b'"name"' in meta
            meta = meta.replace(b'"name"', b'"nbme"', 1)
        elif how == "meta_class_id":
            assert b'"id": 8' in meta
            meta = meta.replace(b'"id": 8', b'"id": 7', 1)       # a built-in class's record
        data[h.meta_off:h.meta_off + h.meta_len] = meta
        h.metadata_checksum = metadata_checksum(bytes(data[h.classes_off:h.file_bytes]))
        write_header(data, h, seal=True)
        Path(path).write_bytes(data)
        return SnapshotCorrupt
    if how.startswith("lies_"):
        LIES[how[len("lies_"):]](h)
        write_header(data, h, seal=True)
        Path(path).write_bytes(data)
        return SnapshotCorrupt
    raise AssertionError(how)


NOTHING_MAPPED = """
import sys, gcheap
addr = int(sys.argv[2])
try:
    gcheap.Runtime.restore(sys.argv[1], lazy=sys.argv[3] == "lazy", verify_file=sys.argv[4] == "verify")
    print("restored")
except gcheap.SnapshotError as e:
    print(type(e).__name__)
maps = open("/proc/self/maps").read().splitlines()
taken = [m for m in maps if int(m.split("-")[0], 16) <= addr < int(m.split()[0].split("-")[1], 16)]
print("mapped" if taken else "nothing-mapped")
"""


@pytest.mark.parametrize("how", ["empty", "junk", "truncated", "header_bit", "version", "metadata", "class_lies",
                                 "meta_json", "meta_class", "meta_class_id"] + [f"lies_{field}" for field in LIES])
def test_a_bad_file_is_a_typed_error_and_nothing_is_mapped(tmp_path, how):
    path = tmp_path / "s"
    addr = make_snapshot(path)
    expected = damage(path, how)
    p = subprocess.run([sys.executable, "-c", NOTHING_MAPPED, str(path), str(addr), "lazy", "no"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    name, mapped = p.stdout.split()
    assert issubclass(getattr(gcheap, name), expected), name
    assert mapped == "nothing-mapped"
    with pytest.raises(expected):
        info(path)


def corrupt_a_chunk(path) -> None:
    data = bytearray(Path(path).read_bytes())
    data[4096 + 4096 + 100] ^= 0xFF                      # inside the second stored page
    Path(path).write_bytes(data)


@pytest.mark.parametrize("lazy,verify", [("eager", "no"), ("lazy", "verify")])
def test_a_corrupt_chunk_is_found_before_anything_is_mapped(tmp_path, lazy, verify):
    path = tmp_path / "s"
    addr = make_snapshot(path)
    corrupt_a_chunk(path)
    p = subprocess.run([sys.executable, "-c", NOTHING_MAPPED, str(path), str(addr), lazy, verify],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["SnapshotCorrupt", "nothing-mapped"]
    d = info(path)
    assert d["verified"] is False and d["bad_chunk"] == 0


VANISH = """
import os, sys, gcheap
rt = gcheap.Runtime.restore(sys.argv[1], lazy=True, restore_fault_mode=sys.argv[3], prefetch=False)
arr = rt.globals["arr"]
print(arr[0].v, flush=True)
if sys.argv[2] == "truncate":
    os.truncate(sys.argv[1], 4096)
else:
    data = bytearray(open(sys.argv[1], "rb").read()); data[4096 * 20 + 5] ^= 0xFF
    open(sys.argv[1], "r+b").write(data)
print(sum(arr[i].v for i in range(0, 3000)), flush=True)
print("no error", flush=True)
"""


@pytest.mark.parametrize("how", ["truncate", "corrupt"])
@pytest.mark.parametrize("fault_mode", ["sigbus", "thread"])
def test_a_lazy_restore_whose_file_vanishes_is_fatal_not_zeros(tmp_path, how, fault_mode):
    path = tmp_path / "s"
    make_snapshot(path)
    # prefetch=False: only the chunks touched before the damage are in
    p = subprocess.run([sys.executable, "-c", VANISH, str(path), how, fault_mode], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == -6, (p.returncode, p.stderr)
    assert "gcheap page server: FATAL" in p.stderr and str(path) in p.stderr
    assert "no error" not in p.stdout


FILL_ON_GC = """
import sys, gcheap
rt = gcheap.Runtime.restore(sys.argv[1], prefetch=False, mmap=sys.argv[2] == "mmap")
arr = rt.globals["arr"]
before = rt.page_server_stats()
rt.gc()                                   # waits at the gate: the rest of the pages come in first
after = rt.page_server_stats()
assert all(arr[i].v == i for i in range(3000))
print(before["present"] < before["nblocks"], after["present"] == after["nblocks"], after["filler_state"])
rt.close()
"""


@pytest.mark.parametrize("source", ["pread", "mmap"])
def test_a_collection_during_a_lazy_restore_brings_every_page_in_first(tmp_path, source):
    path = tmp_path / "s"
    make_snapshot(path)
    p = subprocess.run([sys.executable, "-c", FILL_ON_GC, str(path), source], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["True", "True", "idle"]
