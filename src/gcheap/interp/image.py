"""Serialises a compiled Program into the image the C VM loads (csrc/interp_load.c).

    "GCI1" str filename  u32 nargv {str}  u32 nglobals {str}
    u32 nclasses { str name  u32 nslots {str}  u32 nmethods {str} }
    u32 ncodes { str name  u32 argcount nlocals max_stack ncode  u32 code[ncode]
                 u32 lines[ncode]  u32 nconsts {u8 tag payload}  u32 nnames {str}
                 u32 nlocal_names {str} }
    str = u32 length + UTF-8 bytes; const tags 0 None 1 True 2 False 3 i64 4 f64 5 str
"""
from __future__ import annotations

import struct

from gcheap.interp.bytecode import Program


def _str(out: list, s: str) -> None:
    b = s.encode("utf-8", "surrogatepass")
    out.append(struct.pack("<I", len(b)))
    out.append(b)


def _u32(out: list, v: int) -> None:
    out.append(struct.pack("<I", v))


def _strs(out: list, items) -> None:
    """A count, then each string."""
    _u32(out, len(items))
    for s in items:
        _str(out, s)


def encode(program: Program, argv: list[str]) -> bytes:
    out: list[bytes] = [b"GCI1"]
    _str(out, program.filename)
    _strs(out, argv)
    _strs(out, program.global_names)
    _u32(out, len(program.classes))
    for c in program.classes:
        _str(out, c.name)
        _strs(out, c.slots)
        _strs(out, c.methods)
    _u32(out, len(program.codes))
    for code in program.codes:
        _str(out, code.name)
        for v in (code.argcount, code.nlocals, code.max_stack, len(code.code)):
            _u32(out, v)
        out.append(struct.pack(f"<{len(code.code)}I", *code.code))
        out.append(struct.pack(f"<{len(code.lines)}I", *code.lines))
        _u32(out, len(code.consts))
        for k in code.consts:
            if k is None:
                out.append(b"\x00")
            elif k is True:
                out.append(b"\x01")
            elif k is False:
                out.append(b"\x02")
            elif isinstance(k, int):
                out.append(b"\x03" + struct.pack("<q", k))
            elif isinstance(k, float):
                out.append(b"\x04" + struct.pack("<d", k))
            else:
                out.append(b"\x05")
                _str(out, k)
        _strs(out, code.names)
        _strs(out, code.local_names)
    return b"".join(out)
