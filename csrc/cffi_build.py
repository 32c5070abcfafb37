"""cffi out-of-line API build of the gcheap C core.

Every ``csrc/api_*.h`` header is plain C declarations that cdef accepts unchanged;
the C sources include them through ``gcheap.h`` (which adds the system includes
and an include guard). Every ``csrc/*.c`` file is compiled into one extension,
``gcheap._native``; ``gcheap._lowlevel`` is the only Python module that imports it.
"""
import glob
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def _api_headers():
    return sorted(glob.glob(os.path.join(HERE, "api_*.h")))


def _sources():
    return sorted(os.path.relpath(p, os.getcwd()) for p in glob.glob(os.path.join(HERE, "*.c")))


ffibuilder = FFI()
ffibuilder.cdef("\n".join(open(h).read() for h in _api_headers()))
ffibuilder.set_source(
    "gcheap._native",
    '#include "gcheap.h"\n',
    sources=_sources(),
    include_dirs=[HERE],
    depends=_api_headers() + glob.glob(os.path.join(HERE, "*.h")),
    extra_compile_args=["-O2", "-g", "-std=gnu11", "-pthread", "-fno-strict-aliasing",
                        "-Wall", "-Wextra", "-Wno-unused-parameter"],
    extra_link_args=["-pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
