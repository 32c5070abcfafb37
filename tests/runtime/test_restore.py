"""Runtime.restore(): a runtime from a snapshot file in a new process, lazily (pages
from the file on first touch and from a background filler) or eagerly; classes
and global roots come back; it collects under both collectors. A file that is
not a snapshot, truncated, corrupt or of another version is a typed error with
nothing mapped; a taken address range is HeapAddressInUse; a file that vanishes
under a lazy restore is a clear fatal error, never zeros."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import gcheap
from gcheap import _lowlevel as ll
from gcheap.errors import (HeapAddressInUse, SnapshotCorrupt, SnapshotFormatError, SnapshotTruncated,
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
                            fault_mode=sys.argv[4])
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


def test_the_address_range_taken_is_a_typed_error(tmp_path):
    path = tmp_path / "s"
    with gcheap.Runtime("64M") as rt:
        rt.globals["x"] = rt.new_str("x")
        rt.snapshot(path)
        with pytest.raises(HeapAddressInUse):           # the original still lives there
            gcheap.Runtime.restore(path)


def header(path) -> bytearray:
    return bytearray(Path(path).read_bytes()[:4096])


def rewrite_header(path, buf: bytearray) -> None:
    """Puts the header back with a correct checksum (a well-formed but foreign file)."""
    hdr = bytes(buf[:256]) + bytes(32)                   # 264-byte header: summed up to its checksum, padded
    struct.pack_into("<Q", buf, 256, ll.checksum(hdr))
    with open(path, "r+b") as f:
        f.write(bytes(buf))


def damage(path, how: str) -> type:
    data = bytearray(Path(path).read_bytes())
    if how == "empty":
        Path(path).write_bytes(b"")
        return SnapshotFormatError
    if how == "junk":
        Path(path).write_bytes(os.urandom(10000))
        return SnapshotFormatError
    if how == "truncated":
        Path(path).write_bytes(data[:-100])
        return SnapshotTruncated
    if how == "header_bit":
        data[72] ^= 1                                    # a byte of the heap address
        Path(path).write_bytes(data)
        return SnapshotCorrupt
    if how == "version":
        buf = header(path)
        struct.pack_into("<I", buf, 8, 2)
        rewrite_header(path, buf)
        return SnapshotVersionError
    if how == "metadata":
        classes_off = struct.unpack_from("<Q", data, 160)[0]
        data[classes_off + 8 * 16 + 4] ^= 0x40           # the user class's ref count
        Path(path).write_bytes(data)
        return SnapshotCorrupt
    if how == "lies":                                    # checksums right, a section outside the file
        buf = header(path)
        struct.pack_into("<Q", buf, 200, 1 << 40)        # nchunks
        rewrite_header(path, buf)
        return SnapshotCorrupt
    raise AssertionError(how)


NOTHING_MAPPED = """
import sys, gcheap
addr = int(sys.argv[2])
try:
    gcheap.Runtime.restore(sys.argv[1], lazy=sys.argv[3] == "lazy", verify=sys.argv[4] == "verify")
    print("restored")
except gcheap.SnapshotError as e:
    print(type(e).__name__)
maps = open("/proc/self/maps").read().splitlines()
taken = [m for m in maps if int(m.split("-")[0], 16) <= addr < int(m.split()[0].split("-")[1], 16)]
print("mapped" if taken else "nothing-mapped")
"""


@pytest.mark.parametrize("how", ["empty", "junk", "truncated", "header_bit", "version", "metadata", "lies"])
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
rt = gcheap.Runtime.restore(sys.argv[1], lazy=True, fault_mode=sys.argv[3], prefetch=False)
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
