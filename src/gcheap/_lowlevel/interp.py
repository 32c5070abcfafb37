"""The C VM's entry point (csrc/interp, gcheap/interp.h)."""
from __future__ import annotations

from gcheap._lowlevel.base import check, ffi, lib  # noqa: F401

# ---------------------------------------------------------------- interpreter
# The C VM (csrc/interp_*.c): runs a serialised program on a runtime's heap.

GI_STATUS_OK = lib.GI_STATUS_OK
GI_STATUS_EXCEPTION = lib.GI_STATUS_EXCEPTION
GI_STATUS_FATAL = lib.GI_STATUS_FATAL
GI_OPT_BUDGET = lib.GI_OPT_BUDGET
GI_OPT_SIGINT = lib.GI_OPT_SIGINT


def interp_run(rt, image: bytes, out_fd: int, err_fd: int, options: int = 0) -> tuple[int, dict]:
    """(rc, result) of gi_run: rc < 0 when the program could not start."""
    res = ffi.new("struct gi_result *")
    rc = lib.gi_run(rt, image, len(image), out_fd, err_fd, options, res)
    return int(rc), {
        "status": int(res.status), "exc_builtin": int(res.exc_builtin),
        "exc_line": int(res.exc_line), "fatal_errno": int(res.fatal_errno),
        "instructions": int(res.instructions), "allocations": int(res.allocations),
        "message": ffi.string(res.message).decode("utf-8", "replace"),
    }
