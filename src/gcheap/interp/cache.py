"""Compiled program images, cached on disk (as CPython caches .pyc files).

`gcheap run` compiles the program and every library module it imports each time
(10-50 ms for a pyperformance benchmark, plus importing the compiler). The image
of a program that compiled is kept under $GCHEAP_CACHE_DIR (default
$XDG_CACHE_HOME/gcheap or ~/.cache/gcheap), keyed by the program's path (as given: tracebacks name it so) and
source and by the front end's own sources; an entry also records the library
modules it compiled (checked against their current sources) and the names in
lib/ (a library module added later would change what an import finds).
GCHEAP_NO_CACHE=1 turns the cache off. Anything going wrong with it (unwritable
directory, a damaged entry) just means compiling again.

The cached bytes are the image without its argv (image.encode_parts), so one entry
serves every command line.
"""
from __future__ import annotations

import hashlib
import os
import struct

# os.path, not pathlib: every `gcheap run` imports this module, and pathlib (with
# urllib.parse) was 3 ms of its start-up
_HERE = os.path.dirname(os.path.realpath(__file__))
_FRONT_END = ("bytecode.py", "cache.py", "compiler.py", "image.py", "subset.py", "symtable.py")
_MAGIC = b"GCC1"


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _cache_dir() -> str | None:
    if os.environ.get("GCHEAP_NO_CACHE"):
        return None
    d = os.environ.get("GCHEAP_CACHE_DIR")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gcheap", "images")


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


_front_end_key: bytes | None = None


def _front_end() -> bytes:
    """What the compiler is: its sources and the names in lib/."""
    global _front_end_key
    if _front_end_key is None:
        h = hashlib.sha256()
        for name in _FRONT_END:
            h.update(_read(os.path.join(_HERE, name)))
        lib = os.path.join(_HERE, "lib")
        for root, dirs, files in sorted(os.walk(lib)):
            dirs.sort()
            h.update(root.encode() + b"\0" + "\0".join(sorted(files)).encode() + b"\1")
        _front_end_key = h.digest()
    return _front_end_key


def _key(path: str, source: bytes) -> str:
    h = hashlib.sha256(_front_end())
    h.update(path.encode() + b"\0")   # as given: the image names the file so
    h.update(source)
    return h.hexdigest()


def lookup(path: str, source: bytes) -> tuple[bytes, bytes] | None:
    """The cached (prefix, body) of the image of `path` with this source, or None."""
    d = _cache_dir()
    if d is None:
        return None
    try:
        data = _read(os.path.join(d, _key(path, source)))
        if data[:4] != _MAGIC:
            return None
        at = 4
        (ndeps,) = struct.unpack_from("<I", data, at)
        at += 4
        for _ in range(ndeps):
            (n,) = struct.unpack_from("<I", data, at)
            dep = data[at + 4:at + 4 + n].decode()
            at += 4 + n
            if _digest(_read(dep)) != data[at:at + 32]:
                return None
            at += 32
        (n,) = struct.unpack_from("<I", data, at)
        prefix = data[at + 4:at + 4 + n]
        body = data[at + 4 + n:]
        return prefix, body
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        return None


def store(path: str, source: bytes, deps: list[str], prefix: bytes, body: bytes) -> None:
    """Keeps the image of `path` (compiled from `source`, reading the library
    modules `deps`); silently nothing if the cache cannot be written."""
    d = _cache_dir()
    if d is None:
        return
    try:
        out = [_MAGIC, struct.pack("<I", len(deps))]
        for dep in deps:
            b = dep.encode()
            out += [struct.pack("<I", len(b)), b, _digest(_read(dep))]
        out += [struct.pack("<I", len(prefix)), prefix, body]
        os.makedirs(d, exist_ok=True)
        name = _key(path, source)
        final = os.path.join(d, name)
        tmp = os.path.join(d, f".{name}.{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(b"".join(out))
        os.replace(tmp, final)
    except OSError:
        pass
