"""The gcheap interpreter: Python-subset programs on the managed heap.

Front end (pure Python, no native code): subset.py checks a parsed program against
the documented subset (docs/subset.md), compiler.py turns it into the compact bytecode
of bytecode.py, refvm.py is a reference evaluator of that bytecode used as the
compiler's test oracle. The C VM (csrc/interp_*.c) runs the same bytecode with every
value in the managed heap.
"""
from gcheap.interp.compiler import compile_file, compile_source

__all__ = ["compile_file", "compile_source", "run_file", "RunResult"]


def __getattr__(name: str):
    # The VM needs the compiled core; the front end must import without it.
    if name in ("run_file", "RunResult"):
        from gcheap.interp import run
        return getattr(run, name)
    raise AttributeError(f"module 'gcheap.interp' has no attribute {name!r}")
