"""The loader (csrc/interp/load.c) validates a program image before anything
runs: every string is strict UTF-8 (no overlong forms, surrogates, code points
past U+10FFFF or truncated sequences) and no count promises more items than the
image has bytes left. A crafted image is rejected with EINVAL, never run."""
from __future__ import annotations

import struct

import pytest

import gcheap
from gcheap import _lowlevel as _ll
from gcheap.interp.compiler import compile_source
from gcheap.interp.image import encode

GOOD = "h\u00e9llo"
BAD_UTF8 = [b"h\xc3\x28llo", b"h\xc0\xafllo", b"h\xed\xa0\x80lo", b"h\xf4\x90\x80\x80o", b"h\xf8\x88\x80\x80",
            b"hell\xc3", b"\xe2\x82"]


@pytest.fixture(scope="module")
def runtime():
    with gcheap.Runtime(heap_size="16M") as rt:
        yield rt


def image_with_string(s: bytes) -> bytes:
    img = encode(compile_source(f"x = {GOOD!r}\nprint(x)\n", "t.py"), [])
    good = GOOD.encode()
    assert img.count(good) == 1
    return img.replace(struct.pack("<I", len(good)) + good, struct.pack("<I", len(s)) + s)


def test_the_valid_image_runs(runtime):
    rc, res = _ll.interp_run(runtime._c, image_with_string(GOOD.encode()), 1, 2)
    assert rc == 0 and res["status"] == _ll.GI_STATUS_OK


@pytest.mark.parametrize("bad", BAD_UTF8)
def test_strings_must_be_strict_utf8(runtime, bad):
    rc, _ = _ll.interp_run(runtime._c, image_with_string(bad), 1, 2)
    assert rc == -22


@pytest.mark.parametrize("count", [0xFFFFFFFF, 0x40000000, 1000])
def test_counts_cannot_promise_more_than_the_image_holds(runtime, count):
    img = bytearray(encode(compile_source("print(1)\n", "t.py"), []))
    # "GCI1" str filename, then u32 nargv: claim many argv strings
    n = struct.unpack_from("<I", img, 4)[0]
    struct.pack_into("<I", img, 8 + n, count)
    rc, _ = _ll.interp_run(runtime._c, bytes(img), 1, 2)
    assert rc == -22
