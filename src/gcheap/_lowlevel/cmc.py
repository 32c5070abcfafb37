"""Typed wrappers of the concurrent compactor's machinery (csrc/cmc, gcheap/cmc.h) and of
collector "cmc"'s reports (gcheap/gc.h)."""
from __future__ import annotations

from gcheap._lowlevel.base import check, doubles, ffi, lib  # noqa: F401
from gcheap.errors import InvalidArgument  # noqa: F401

# ---- concurrent compactor

CMC_FAULT_MODES = {"sigbus": lib.CMC_FAULT_SIGBUS, "thread": lib.CMC_FAULT_THREAD}
CMC_INSTALLS = {"copy": lib.CMC_INSTALL_COPY, "move": lib.CMC_INSTALL_MOVE, "auto": lib.CMC_INSTALL_AUTO}
CMC_INSTALL_NAMES = {v: k for k, v in CMC_INSTALLS.items()}
CMC_FLIPS = {"dontunmap": lib.CMC_FLIP_DONTUNMAP, "remap": lib.CMC_FLIP_REMAP}
CMC_INJECTION_POINTS = {
    "reserve": lib.CMC_INJ_RESERVE, "uffd": lib.CMC_INJ_UFFD, "thread": lib.CMC_INJ_THREAD,
    "register": lib.CMC_INJ_REGISTER, "mremap": lib.CMC_INJ_MREMAP, "ioctl": lib.CMC_INJ_IOCTL,
    "worker": lib.CMC_INJ_WORKER, "remap_mmap": lib.CMC_INJ_REMAP_MMAP,
}
CMC_POINT_NAMES = {v: k for k, v in CMC_INJECTION_POINTS.items()}
CMC_INSTALL_MOVE = lib.CMC_INSTALL_MOVE
GR_COLLECTOR_CMC = lib.GR_COLLECTOR_CMC


def cmc_start(c) -> None:
    lib.cmc_start(c)


def gr_cmc_wait_rc(rt, timeout_ms: int = -1) -> int:
    return int(lib.gr_cmc_wait(rt, timeout_ms))


def cmc_config(fault_mode: str, install: str, gc_threads: int, flip: str,
               run_pages: int = 128, release_batch_pages: int = 1024, worker_delay_us: int = 0,
               end_delay_us: int = 0, install_deadline_ms: int = 0, remap_gap_us: int = 0,
               recycle_free: bool = True, fill_delay_us: int = 0):
    return ffi.new("struct cmc_config *", {
        "fault_mode": CMC_FAULT_MODES[fault_mode], "install": CMC_INSTALLS[install],
        "gc_threads": gc_threads, "flip": CMC_FLIPS[flip], "run_pages": run_pages,
        "release_batch_pages": release_batch_pages, "worker_delay_us": worker_delay_us,
        "end_delay_us": end_delay_us, "install_deadline_ms": install_deadline_ms,
        "remap_gap_us": remap_gap_us, "recycle_free": int(recycle_free),
        "fill_delay_us": fill_delay_us})
CMC_INSTALL_DEADLINE_MS = lib.CMC_INSTALL_DEADLINE_MS
GR_MARKINGS = {"concurrent": lib.GR_MARK_CONCURRENT, "pause": lib.GR_MARK_IN_PAUSE}
GR_CHECKS = {"checkmark": lib.GR_CHECK_MARK, "barrier": lib.GR_CHECK_SATB}


def gr_cmc_config(machinery, marking: str = "concurrent", checks=(), remark_budget_us: int = 0,
                  remark_attempts: int = 0, pacing: bool = True, stress_delay_us: int = 0,
                  mark_stack_limit: int = 0, hold_after_start_ms: int = 0, catchup_kib: int = 0,
                  remark_flush: bool = True):
    """struct gr_cmc_config: the machinery's struct cmc_config (a cffi pointer) and the cycle's options."""
    cfg = ffi.new("struct gr_cmc_config *")
    cfg.machinery = machinery[0]
    cfg.marking = GR_MARKINGS[marking]
    mask = 0
    for c in checks:
        mask |= GR_CHECKS[c]
    cfg.checks = mask
    cfg.remark_budget_us = remark_budget_us
    cfg.remark_attempts = remark_attempts
    cfg.no_pacing = 0 if pacing else 1
    cfg.stress_delay_us = stress_delay_us
    cfg.mark_stack_limit = mark_stack_limit
    cfg.hold_after_start_ms = hold_after_start_ms
    cfg.catchup_kib = catchup_kib
    cfg.no_remark_flush = 0 if remark_flush else 1
    return cfg


def gr_cycles(rt) -> list[dict]:
    """Every cycle of collector cmc so far (struct gr_cycle as dicts, times in seconds)."""
    n = check(int(lib.gr_cycle_count(rt)), "gr_cycle_count")
    out = []
    c = ffi.new("struct gr_cycle *")
    for i in range(n):
        if lib.gr_cycle_get(rt, i, c) < 0:
            break
        d = {name: getattr(c, name) for name, _ in ffi.typeof("struct gr_cycle").fields}
        d["pause_seq"] = list(c.pause_seq)[:min(c.npauses, len(c.pause_seq))]
        for k in list(d):
            if k.endswith("_ns"):
                d[k[:-3] + "_s"] = d.pop(k) / 1e9
        out.append(d)
    return out


def cmc_create(heap: int, size: int, cfg):
    out = ffi.new("struct cmc **")
    check(lib.cmc_create(heap, size, cfg, out), "cmc_create")
    return out[0]


def cmc_from_space(c) -> int:
    return int(lib.cmc_from_space(c))


def cmc_destroy(c) -> None:
    lib.cmc_destroy(c)


def cmc_use_xor_builder(c, pattern: int) -> None:
    check(lib.cmc_use_xor_builder(c, pattern), "cmc_use_xor_builder")


def cmc_flip_rc(c, used_len: int, n_build: int, src_first) -> int:
    """Returns the C status (0 or -errno): callers map the flip's errors."""
    firsts = list(src_first)
    if n_build < 0 or len(firsts) != n_build:
        raise InvalidArgument(f"src_first has {len(firsts)} entries, n_build is {n_build}: "
                         "one source page per destination page")
    arr = ffi.new("uint32_t[]", firsts) if n_build else ffi.NULL
    return int(lib.cmc_flip(c, used_len, n_build, arr))


def cmc_wait(c, timeout_ms: int = -1) -> int:
    return int(lib.cmc_wait(c, timeout_ms))


def cmc_active(c) -> bool:
    return bool(lib.cmc_active(c))


def cmc_stats(c) -> dict:
    st = ffi.new("struct cmc_stats *")
    check(lib.cmc_get_stats(c, st), "cmc_get_stats")
    return {name: getattr(st, name) for name, _ in ffi.typeof("struct cmc_stats").fields}


def _totals_dict(t) -> dict:  # noqa: D401
    return {n: getattr(t, n) for n, _ in ffi.typeof("struct cmc_totals").fields}


def cmc_totals(c) -> dict:
    """Sums over every cycle of c (completed ones, plus the running one so far)."""
    t = ffi.new("struct cmc_totals *")
    check(lib.cmc_get_totals(c, t), "cmc_get_totals")
    return _totals_dict(t)


def cmc_stalls(c, max_entries: int):
    out = ffi.new("double[]", max(max_entries, 1))
    return doubles(out, check(lib.cmc_get_stalls(c, out, max_entries), "cmc_get_stalls"))


def cmc_inject(c, point: str, nth: int = 1, err: int = 5, times: int = 1) -> None:
    """The nth run of the step fails with err, and so do the times-1 runs after it
    (times=-1: every run from the nth on)."""
    check(lib.cmc_inject(c, CMC_INJECTION_POINTS[point], nth, times, err), "cmc_inject")


def cmc_inject_global(point: str, nth: int = 1, err: int = 5) -> None:
    check(lib.cmc_inject_global(CMC_INJECTION_POINTS[point], nth, 1, err), "cmc_inject_global")


def cmc_clear_global_injection() -> None:
    lib.cmc_inject_global(lib.CMC_INJ_NONE, 1, 1, 0)


def cmc_sigbus_installed() -> bool:
    return lib.cmc_sigbus_installed() == 1


def cmc_test_fill(addr: int, length: int, seed: int) -> None:
    lib.cmc_test_fill(addr, length, seed)


def cmc_test_check(addr: int, length: int, seed: int, pattern: int) -> int:
    return int(lib.cmc_test_check(addr, length, seed, pattern))


def cmc_test_touch(addr: int, n: int, stride: int, write: bool = False, val: int = 0):
    out = ffi.new("double[]", max(n, 1))
    lib.cmc_test_touch(addr, n, stride, 1 if write else 0, val, out)
    return doubles(out, n)


def cmc_test_hammer(addr: int, seconds: float, stop=None) -> int:
    return int(lib.cmc_test_hammer(addr, seconds, stop if stop is not None else ffi.NULL))


def gr_cmc_wait(rt, timeout_ms: int = -1) -> None:
    check(lib.gr_cmc_wait(rt, timeout_ms), "gr_cmc_wait")


def gr_cmc_active(rt) -> bool:
    return bool(lib.gr_cmc_active(rt))


def gr_cmc_info(rt) -> tuple[dict, dict]:
    info = ffi.new("struct gr_cmc_info *")
    st = ffi.new("struct cmc_stats *")
    check(lib.gr_cmc_info(rt, info, st), "gr_cmc_info")
    return ({n: getattr(info, n) for n, _ in ffi.typeof("struct gr_cmc_info").fields},
            {n: getattr(st, n) for n, _ in ffi.typeof("struct cmc_stats").fields})


def gr_cmc_totals(rt) -> dict:
    t = ffi.new("struct cmc_totals *")
    check(lib.gr_cmc_totals(rt, t), "gr_cmc_totals")
    return _totals_dict(t)


def gr_cmc_stalls(rt, max_entries: int):
    out = ffi.new("double[]", max(max_entries, 1))
    return doubles(out, check(lib.gr_cmc_stalls(rt, out, max_entries), "gr_cmc_stalls"))


def gr_cmc_inject(rt, point: str, nth: int = 1, err: int = 5, times: int = 1) -> None:
    check(lib.gr_cmc_inject(rt, CMC_INJECTION_POINTS[point], nth, times, err), "gr_cmc_inject")
