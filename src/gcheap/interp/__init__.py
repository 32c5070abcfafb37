"""The gcheap interpreter: Python programs on the managed heap.

Front end (pure Python, no native code): subset.py checks a parsed program against
what the interpreter supports (docs/subset.md), symtable.py resolves scopes,
compiler.py turns it into the bytecode of bytecode.py, image.py serialises it and
cache.py keeps the images of programs that compiled. The C VM (csrc/interp/) runs
the bytecode with every value in the managed heap. lib/ holds the library modules
written in Python (the pyperf stand-in, random, bisect, io, collections).
"""

__all__ = ["compile_file", "compile_source", "run_file", "RunResult"]


def __getattr__(name: str):
    # Imported on first use: `gcheap run` of a cached program needs no compiler,
    # and the VM needs the compiled core while the front end must import without it.
    if name in ("compile_file", "compile_source"):
        from gcheap.interp import compiler
        return getattr(compiler, name)
    if name in ("run_file", "RunResult"):
        from gcheap.interp import run
        return getattr(run, name)
    raise AttributeError(f"module 'gcheap.interp' has no attribute {name!r}")
