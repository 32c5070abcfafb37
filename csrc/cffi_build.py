"""cffi out-of-line API build of the gcheap C core.

The C core is layered, one folder per layer, each compiling only against the
public headers of the layers below it and its own internal header:

    kernel   kernel primitives: userfaultfd, mremap, probes, the fault dispatcher
    cmc      the concurrent compactor's machinery (flip, page states, workers)
    runtime  objects, heap, roots, safepoints, field access, pause log, verify
    gc       the collector interface, the phases, the collectors (stw, cmc)
    interp   the bytecode interpreter
    testing  test and benchmark support: a separate static library, never
             referenced by the production layers (see docs/architecture.md)

Each layer's public API is ``include/gcheap/<layer>.h``; the text between its
``cdef-begin`` and ``cdef-end`` markers is plain C declarations, fed to cdef
unchanged, in layer order. The extension ``gcheap._native`` exports only its
module init function (-fvisibility=hidden); ``gcheap._lowlevel`` is the only
Python package that imports it.
"""
import glob
import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(HERE, "include")

# Lowest first. A layer may include the headers of the layers before it.
LAYERS = ["kernel", "cmc", "runtime", "gc", "snapshot", "interp"]
TESTING = "testing"

CFLAGS = ["-O2", "-g", "-std=gnu11", "-pthread", "-fno-strict-aliasing", "-fvisibility=hidden",
          "-Wall", "-Wextra", "-Wno-unused-parameter"]
LDFLAGS = ["-pthread", "-Wl,--exclude-libs,ALL"]
# `make tsan`: GCHEAP_SANITIZE=thread builds the core with ThreadSanitizer (a
# separate build, run with libtsan preloaded: see the Makefile).
# bench/barrier_cost.py: GCHEAP_BARRIER=none|card builds a measurement variant
# of the write barrier (csrc/runtime/runtime_impl.h); never for real use.
if os.environ.get("GCHEAP_BARRIER"):
    CFLAGS += [f"-DGR_BARRIER_{os.environ['GCHEAP_BARRIER'].upper()}"]
if os.environ.get("GCHEAP_SANITIZE"):
    CFLAGS += [f"-fsanitize={os.environ['GCHEAP_SANITIZE']}", "-O1", "-fno-omit-frame-pointer"]
    LDFLAGS += [f"-fsanitize={os.environ['GCHEAP_SANITIZE']}"]
_CDEF = re.compile(r"/\* cdef-begin[^\n]*\*/\n(.*?)/\* cdef-end \*/", re.S)


def public_header(layer):
    return os.path.join(INCLUDE, "gcheap", layer + ".h")


def cdef_text(layer):
    text = open(public_header(layer)).read()
    m = _CDEF.search(text)
    if not m:
        raise RuntimeError(f"{public_header(layer)}: no cdef-begin/cdef-end block")
    return m.group(1)


def layer_sources(layer):
    return sorted(os.path.relpath(p, os.getcwd()) for p in glob.glob(os.path.join(HERE, layer, "*.c")))


def all_headers():
    return sorted(glob.glob(os.path.join(HERE, "*", "*.h")) + glob.glob(os.path.join(INCLUDE, "gcheap", "*.h")))


def testing_library():
    """(name, build_info) for setuptools' build_clib: the test and benchmark support."""
    return ("gcheap_testing", {
        "sources": layer_sources(TESTING),
        "include_dirs": [INCLUDE, HERE],
        "cflags": CFLAGS,
        # rebuilt when any header changes (struct layouts are shared with the core)
        "obj_deps": {"": all_headers()},
    })


ffibuilder = FFI()
ffibuilder.cdef("\n".join(cdef_text(layer) for layer in LAYERS + [TESTING]))
ffibuilder.set_source(
    "gcheap._native",
    "".join(f'#include "gcheap/{layer}.h"\n' for layer in LAYERS + [TESTING]),
    sources=[s for layer in LAYERS for s in layer_sources(layer)],
    include_dirs=[INCLUDE, HERE],
    # the testing library's sources too: the extension is relinked when it changes
    depends=all_headers() + layer_sources(TESTING),
    extra_compile_args=CFLAGS,
    extra_link_args=LDFLAGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
