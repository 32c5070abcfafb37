"""Running a program: compile, serialise, hand it to the C VM on a runtime's heap."""
from __future__ import annotations

import dataclasses
import errno
import sys

from gcheap.errors import RuntimeClosed, InvalidOption, ProgramError


@dataclasses.dataclass
class RunResult:
    """How a run ended. status: "ok", "exception" (an uncaught program exception,
    traceback already printed to stderr) or "fatal" (the runtime failed)."""
    status: str                       # "ok", "exception", "exit" (SystemExit) or "fatal"
    exc_type: str | None
    exc_line: int | None
    message: str
    polls: int                        # loop iterations and calls (safepoint polls)
    allocations: int
    pauses: list                      # GCReport of every pause during the run (kind: full, start, ...)
    wall_s: float = 0.0
    # cmc: pages built over every cycle of the run (cycles, pages_by_gc,
    # pages_by_mutator, zero_pages); None when pages are built in the pause
    cmc_pages: dict | None = None
    exit_code: int = 0                # SystemExit's code (status "exit")
    cycles: list = dataclasses.field(default_factory=list)   # cmc: the cycles of the run (Runtime.cycles())
    start_s: float = 0.0              # when the program started (time.perf_counter(), the pauses' clock)
    collector: str = ""               # the runtime's collector ("cmc" or "stw")
    collector_fallback: str | None = None   # why the default is "stw" here (Runtime.collector_fallback)

    @property
    def exit_status(self) -> int:
        if self.status == "exit":
            return self.exit_code
        return 0 if self.status == "ok" else 1


def _builtin_id(name: str) -> int:
    from gcheap.interp import bytecode
    return bytecode.BUILTIN_ID[name]


def program_image(path: str, argv: list[str]) -> bytes:
    """The image of the program at `path` (compiled, or from the image cache)."""
    from gcheap.interp import cache
    from gcheap.interp.image import assemble
    with open(path, "rb") as f:
        source = f.read()
    hit = cache.lookup(path, source)
    if hit is not None:
        return assemble(hit[0], argv, hit[1])
    from gcheap.interp.compiler import compile_source
    from gcheap.interp.image import encode_parts
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError as e:
        from gcheap.errors import SubsetError
        raise SubsetError(path, 1, 1, f"source is not UTF-8 ({e.reason})") from None
    program = compile_source(text, path)
    prefix, body = encode_parts(program)
    cache.store(path, source, program.library_paths, prefix, body)
    return assemble(prefix, argv, body)


def run_file(path: str, argv=(), runtime=None, *, stdout_fd: int | None = None,
             stderr_fd: int | None = None, check: bool = False, **runtime_options) -> RunResult:
    """Run the program at `path` with sys.argv = [path, *argv] under the gcheap VM.

    runtime: a gcheap.Runtime to run on (the program's roots are its own: the
    runtime's handles and global roots stay the caller's); else one is created from runtime_options (heap_size,
    collector, verify, stress, ...) and closed afterwards. Output goes to the file
    descriptors stdout_fd / stderr_fd (default: this process's 1 and 2).
    Raises SubsetError for a program outside the subset; with check=True also
    ProgramError when the program ends with an uncaught exception."""
    import time

    from gcheap import _lowlevel as _ll
    from gcheap.runtime import Runtime

    image = program_image(path, [path, *map(str, argv)])
    own = runtime is None
    if own:
        runtime = Runtime(**runtime_options)
    elif runtime_options:
        raise InvalidOption("runtime options are given to the runtime you pass, not to run_file")
    cmc = getattr(runtime, "_cmc", None)
    concurrent = cmc is not None and cmc.concurrent_capable
    runtime._program_started()            # close() raises RuntimeBusy until _program_ended
    try:
        before = len(runtime._pauses())
        totals_before = cmc.totals() if concurrent else None
        sys.stdout.flush()
        sys.stderr.flush()
        t0 = time.perf_counter()
        rc, res = _ll.interp_run(runtime._c, image, 1 if stdout_fd is None else stdout_fd,
                                 2 if stderr_fd is None else stderr_fd,
                                 _ll.GI_OPT_SIGINT if _sigint_raises_here() else 0)
        wall = time.perf_counter() - t0
        if rc == -errno.EINVAL:
            raise ValueError("the C VM rejected the program image (a compiler/loader mismatch)")
        if rc == -errno.ESHUTDOWN:
            raise RuntimeClosed("the runtime was closed before the program could start")
        if rc < 0:
            raise _ll.kernel_error(-rc, "gi_run")
        cmc_pages = None
        cycles: list = []
        # The pacer's thread may start one more cycle while these are read: the
        # totals, the pause log and the cycle records are read again (after the
        # cycle) until they agree on how many cycles flipped.
        for _attempt in range(20):
            if concurrent:
                cmc._wait()               # the last cycle may still be compacting
                after = cmc.totals()
                cmc_pages = {k: int(after[k] - totals_before[k])
                             for k in ("cycles", "pages_by_gc", "pages_by_mutator", "zero_pages")}
            pauses = runtime._pauses()[before:]
            if not concurrent:
                break
            first_seq = pauses[0].seq if pauses else None
            cycles = [c for c in runtime.cycles() if first_seq is not None and c["pause_seq"]
                      and c["pause_seq"][0] >= first_seq]
            flips = sum(p.kind in ("flip", "mark+flip") for p in pauses)
            if cmc_pages["cycles"] == flips == len(cycles):
                break
    finally:
        runtime._program_ended()
        if own:
            runtime.close()
    status = {_ll.GI_STATUS_OK: "ok", _ll.GI_STATUS_EXCEPTION: "exception"}.get(res["status"], "fatal")
    exc = None
    exit_code = 0
    if status == "exception":
        # the message is the traceback's last line: `Type: text` (Type qualified
        # by its module unless __main__ or a built-in)
        exc = res["message"].split(":", 1)[0].strip() or None
        if res["exc_builtin"] == _builtin_id("SystemExit"):
            status = "exit"
            exit_code = int(res["message"].split(":", 1)[1])
            exc = None
    result = RunResult(status, exc, res["exc_line"] if exc else None, res["message"],
                       res["instructions"], res["allocations"], pauses, wall, cmc_pages,
                       exit_code=exit_code, cycles=cycles, start_s=t0, collector=runtime.collector,
                       collector_fallback=runtime.collector_fallback)
    if exc == "KeyboardInterrupt":
        # SIGINT during the run, not caught by the program (its traceback is on stderr)
        raise KeyboardInterrupt
    if check and status not in ("ok", "exit"):
        raise ProgramError(exc or "fatal", res["message"], "")
    return result


def _sigint_raises_here() -> bool:
    """True when Ctrl-C would raise KeyboardInterrupt in this Python thread: then
    the program gets it instead (at its next safepoint poll), as under CPython."""
    import signal
    import threading
    return (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)


def traced_run_file(trace_path, program: str, argv=(), **runtime_options):
    """gcheap.interp.run_file on a runtime of its own with a Recorder running, then
    the timeline written to trace_path (`gcheap run --trace FILE`)."""
    from gcheap.runtime import Runtime
    from gcheap.runtime.timeline import Recorder, write_trace

    rt = Runtime(**runtime_options)
    try:
        rec = Recorder(rt).start()
        result = run_file(program, argv, runtime=rt)
        rec.stop()
        write_trace(rt, trace_path)
    finally:
        rt.close()
    return result
