"""`gcheap snapshot inspect FILE` as a newcomer meets it: a readable report with the
checksums verified, --json, and a clear one-line reason with exit status 1 for a
file that is not a good snapshot, 2 for bad usage."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import gcheap

pytestmark = pytest.mark.uffd


def gcheap_cmd(*args):
    return subprocess.run([sys.executable, "-m", "gcheap", "snapshot", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def snap(tmp_path):
    path = tmp_path / "heap.snap"
    with gcheap.Runtime("64M") as rt:
        Pair = rt.define_class("Pair", refs=["a", "b"], scalars=["n"])
        rt.globals["root"] = rt.new(Pair, n=7)
        rt.globals["data"] = rt.new_array("i64", 5000)
        rt.snapshot(path)
    return path


def test_inspect_prints_the_header_sizes_and_verifies_checksums(snap):
    r = gcheap_cmd("inspect", str(snap))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for want in ("version 1", "capacity 64.0 MiB", "Pair(a, b; n)", "global roots      2: data, root",
                 "checksums         ok"):
        assert want in out, (want, out)


def test_inspect_json(snap):
    r = gcheap_cmd("inspect", "--json", str(snap))
    d = json.loads(r.stdout)
    assert r.returncode == 0 and d["verified"] is True and d["heap_capacity"] == 64 << 20
    assert [c["name"] for c in d["meta"]["classes"]] == ["Pair"]
    r = gcheap_cmd("inspect", "--json", "--no-verify", str(snap))
    assert "verified" not in json.loads(r.stdout)


def test_a_bad_file_exits_1_with_the_reason(snap, tmp_path):
    data = bytearray(snap.read_bytes())
    data[4096 + 10] ^= 1                                   # a data chunk
    bad = tmp_path / "bad.snap"
    bad.write_bytes(data)
    r = gcheap_cmd("inspect", str(bad))
    assert r.returncode == 1 and "checksums         BAD: chunk 0" in r.stdout
    bad.write_bytes(data[:5000])
    r = gcheap_cmd("inspect", str(bad))
    assert r.returncode == 1 and "SnapshotTruncated" in r.stderr and "Traceback" not in r.stderr
    bad.write_bytes(b"hello, world\n")
    r = gcheap_cmd("inspect", str(bad))
    assert r.returncode == 1 and "not a gcheap snapshot" in r.stderr
    r = gcheap_cmd("inspect", str(tmp_path / "missing"))
    assert r.returncode == 1 and "No such file" in r.stderr


def test_bad_usage_exits_2():
    assert gcheap_cmd().returncode == 2
    assert gcheap_cmd("inspect").returncode == 2
    assert gcheap_cmd("frobnicate", "x").returncode == 2
    r = gcheap_cmd("--help")
    assert r.returncode == 0 and "inspect" in r.stdout and "exit status" in r.stdout
