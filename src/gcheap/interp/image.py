"""Serialises a compiled Program into the image the C VM loads (csrc/interp/load.c).

    "GCI2" str filename  u32 nargv {str}
    u32 nmodules { str name  u8 kind (0 python, 1 native, 2 missing)  u32 code
                   u32 global_start  u32 nglobals }
    u32 nglobals {str}
    u32 ncodes { str name  str qualname
                 u32 flags argcount kwonlycount nlocals nfree max_stack module ncode
                 u32 code[ncode]  u32 lines[ncode]  u32 nconsts {const}  u32 nnames {str}
                 u32 nlocal_names {str} }
    str = u32 length + UTF-8 bytes
    const = u8 tag + payload: 0 None, 1 True, 2 False, 3 i64, 4 f64, 5 str,
            6 tuple (u32 n, n consts), 7 Ellipsis, 8 frozenset (u32 n, n consts in insertion order)
"""
from __future__ import annotations

import struct

from gcheap.interp.bytecode import Program

MODULE_KINDS = {"python": 0, "native": 1, "missing": 2}


def _str(out: list, s: str) -> None:
    b = s.encode("utf-8", "surrogatepass")
    out.append(struct.pack("<I", len(b)))
    out.append(b)


def _u32(out: list, *vs: int) -> None:
    for v in vs:
        out.append(struct.pack("<I", v))


def _strs(out: list, items) -> None:
    """A count, then each string."""
    _u32(out, len(items))
    for s in items:
        _str(out, s)


def _const(out: list, k) -> None:
    if k is None:
        out.append(b"\x00")
    elif k is True:
        out.append(b"\x01")
    elif k is False:
        out.append(b"\x02")
    elif k is Ellipsis:
        out.append(b"\x07")
    elif isinstance(k, int):
        out.append(b"\x03" + struct.pack("<q", k))
    elif isinstance(k, float):
        out.append(b"\x04" + struct.pack("<d", k))
    elif isinstance(k, str):
        out.append(b"\x05")
        _str(out, k)
    elif type(k).__name__ == "_FrozenConst":
        out.append(b"\x08")
        _u32(out, len(k.items))
        for item in k.items:
            _const(out, item)
    elif isinstance(k, tuple):
        out.append(b"\x06")
        _u32(out, len(k))
        for item in k:
            _const(out, item)
    else:
        raise TypeError(f"constant of type {type(k).__name__}")


def encode(program: Program, argv: list[str]) -> bytes:
    prefix, body = encode_parts(program)
    return assemble(prefix, argv, body)


def assemble(prefix: bytes, argv: list[str], body: bytes) -> bytes:
    """The image of encode_parts' (prefix, body) with this argv."""
    out: list[bytes] = [prefix]
    _strs(out, argv)
    out.append(body)
    return b"".join(out)


def encode_parts(program: Program) -> tuple[bytes, bytes]:
    """The image but its argv: what comes before it and what comes after."""
    out: list[bytes] = [b"GCI2"]
    _str(out, program.filename)
    prefix = b"".join(out)
    out = []
    _u32(out, len(program.modules))
    for m in program.modules:
        _str(out, m.name)
        out.append(bytes([MODULE_KINDS[m.kind]]))
        _u32(out, max(m.code, 0), m.global_start, m.nglobals)
    _strs(out, program.global_names)
    _u32(out, len(program.codes))
    for code in program.codes:
        _str(out, code.name)
        _str(out, code.qualname or code.name)
        _u32(out, code.flags, code.argcount, code.kwonlycount, code.nlocals, code.nfree,
             code.max_stack, code.module, len(code.code))
        out.append(struct.pack(f"<{len(code.code)}I", *code.code))
        out.append(struct.pack(f"<{len(code.lines)}I", *code.lines))
        _u32(out, len(code.consts))
        for k in code.consts:
            _const(out, k)
        _strs(out, code.names)
        _strs(out, code.local_names)
    return prefix, b"".join(out)
