"""The benchmark metrics, computed in one place (BENCHMARKS.md, "Metrics").

Everything that turns a pause log, unit stamps or fault stalls into numbers lives
here; the CLI, the runtime's stats(), the bench harness and the report call it.

- Percentiles are nearest-rank (numpy's "inverted_cdf"): every reported value is
  one that was observed, and p50 of 1..100 is 50.
- Pause logs are (start, duration) pairs in seconds on one clock, relative to the
  start of the run [0, T]. Overlapping pauses are merged before MMU.
- MMU(w) is exact: the worst window of length w over [0, T]. The paused time of
  a window [a, a + w] is P(a + w) - P(a), with P(x) the paused time in [0, x]
  (prefix sums, located with searchsorted). As a function of a it is piecewise
  linear with slope [a + w in a pause] - [a in a pause], so its maximum is at a
  point where the slope turns from +1 to 0 or -1: a window that starts at a
  pause start or ends at a pause end (clamped to [0, T - w]). Only those
  candidates are evaluated.
- Metered latency (DaCapo): with units sorted by start, unit k (0-based) of N is
  given the synthetic start first + (last - first) * k / N and its latency is
  max(end - start, end - synthetic start): queueing behind a pause is charged.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))
# Window lengths (seconds) reported in results.json and plotted (100 us .. 1 s).
MMU_WINDOWS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile q (0..100) of values; 0.0 for no values."""
    a = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.percentile(a, q, method="inverted_cdf"))


def summary(values: Iterable[float]) -> dict:
    """count, p50, p90, p99, p99.9, max, total and mean of values (same unit as values)."""
    a = np.sort(np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64))
    out = {"count": int(a.size), "total": float(a.sum()), "max": float(a[-1]) if a.size else 0.0,
           "mean": float(a.mean()) if a.size else 0.0}
    for name, q in PERCENTILES:
        out[name] = float(np.percentile(a, q, method="inverted_cdf")) if a.size else 0.0
    return out


def pause_summary(durations_s: Iterable[float]) -> dict:
    """The pause summary BENCHMARKS.md asks for: count, p50, p90, p99, p99.9, max, total."""
    return summary(durations_s)


def spread(values: Iterable[float]) -> dict:
    """median, min and max of repeated measurements (the median of an even count is
    the mean of the middle two, as statistics.median)."""
    a = np.asarray(list(values), dtype=np.float64)
    if a.size == 0:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"median": float(np.median(a)), "min": float(a.min()), "max": float(a.max()), "n": int(a.size)}


# ---------------------------------------------------------------- MMU

def merge_intervals(starts: Sequence[float], durations: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, non-overlapping (start, end) arrays of the given intervals."""
    s = np.asarray(starts, dtype=np.float64)
    e = s + np.asarray(durations, dtype=np.float64)
    if s.size == 0:
        return s, e
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    # an interval starts a new group when it begins after every earlier end
    run_end = np.maximum.accumulate(e)
    new = np.empty(s.size, dtype=bool)
    new[0] = True
    new[1:] = s[1:] > run_end[:-1]
    idx = np.flatnonzero(new)
    return s[idx], np.maximum.reduceat(e, idx)


class PauseLog:
    """Pauses of one run as merged intervals clamped to [0, T], with prefix sums."""

    def __init__(self, starts: Sequence[float], durations: Sequence[float], total_s: float) -> None:
        if total_s <= 0:
            raise ValueError(f"run length must be positive, got {total_s}")
        s, e = merge_intervals(starts, durations)
        s, e = np.clip(s, 0.0, total_s), np.clip(e, 0.0, total_s)
        keep = e > s
        self.starts, self.ends, self.total_s = s[keep], e[keep], float(total_s)
        self.cum = np.concatenate(([0.0], np.cumsum(self.ends - self.starts)))   # paused before pause i

    def paused_until(self, x: np.ndarray) -> np.ndarray:
        """P(x): paused time in [0, x], vectorised."""
        x = np.asarray(x, dtype=np.float64)
        if self.starts.size == 0:
            return np.zeros_like(x)
        i = np.searchsorted(self.starts, x, side="right") - 1     # last pause starting at or before x
        ic = np.clip(i, 0, None)
        inside = np.clip(x - self.starts[ic], 0.0, self.ends[ic] - self.starts[ic])
        return np.where(i >= 0, self.cum[ic] + inside, 0.0)

    def paused_in(self, a: np.ndarray, w: float) -> np.ndarray:
        return self.paused_until(np.asarray(a) + w) - self.paused_until(a)

    def mmu(self, w: float) -> float:
        """Minimum mutator utilisation for window length w (seconds); w >= T gives
        the utilisation of the whole run."""
        if w <= 0:
            raise ValueError(f"window must be positive, got {w}")
        T = self.total_s
        if self.starts.size == 0:
            return 1.0
        if w >= T:
            return float(1.0 - self.cum[-1] / T)
        cand = np.concatenate((self.starts, self.ends - w, [0.0, T - w]))
        cand = np.clip(cand, 0.0, T - w)
        worst = float(self.paused_in(cand, w).max())
        # rounded so that float noise of the prefix sums does not show (1e-15 for 0)
        return round(min(1.0, max(0.0, 1.0 - worst / w)), 12)

    def utilisation(self) -> float:
        return float(1.0 - self.cum[-1] / self.total_s) if self.starts.size else 1.0


def mmu(starts: Sequence[float], durations: Sequence[float], total_s: float, window_s: float) -> float:
    """Exact MMU of one pause log for one window length (all in seconds)."""
    return PauseLog(starts, durations, total_s).mmu(window_s)


def mmu_curve(starts: Sequence[float], durations: Sequence[float], total_s: float,
              windows: Sequence[float] = MMU_WINDOWS) -> dict:
    """{window: MMU} for each window length; keys are the windows' str() (JSON keys)."""
    log = PauseLog(starts, durations, total_s)
    return {window_key(w): log.mmu(w) for w in windows}


def window_key(w: float) -> str:
    """The JSON key of a window length: "0.0001", "0.001", "1"."""
    return np.format_float_positional(float(w), trim="-")


# ---------------------------------------------------------------- latency

def metered_latency(starts: Sequence[float], ends: Sequence[float]) -> np.ndarray:
    """DaCapo metered latency of each unit (seconds), in start order."""
    s = np.asarray(starts, dtype=np.float64)
    e = np.asarray(ends, dtype=np.float64)
    if s.shape != e.shape:
        raise ValueError("starts and ends differ in length")
    if s.size == 0:
        return s
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    n = s.size
    synthetic = s[0] + (s[-1] - s[0]) * np.arange(n) / n
    return np.maximum(e - s, e - synthetic)


def simple_latency(starts: Sequence[float], ends: Sequence[float]) -> np.ndarray:
    s = np.asarray(starts, dtype=np.float64)
    e = np.asarray(ends, dtype=np.float64)
    if s.shape != e.shape:
        raise ValueError("starts and ends differ in length")
    order = np.argsort(s, kind="stable")
    return (e - s)[order]


def latency_summary(starts: Sequence[float], ends: Sequence[float]) -> dict:
    """{"units": N, "simple": summary, "metered": summary} in seconds ({} with no units)."""
    if len(starts) == 0:
        return {}
    return {"units": len(starts), "simple": summary(simple_latency(starts, ends)),
            "metered": summary(metered_latency(starts, ends))}


# ---------------------------------------------------------------- fault stalls

# Log-spaced bin edges from 1 us to 1 s (10 per decade), plus catch-alls.
STALL_BIN_EDGES = np.concatenate(([0.0], np.logspace(-6, 0, 61), [np.inf]))


def stall_histogram(stalls_s: Iterable[float], edges: np.ndarray = STALL_BIN_EDGES) -> dict:
    """Counts of fault stalls (seconds) per bin; edges[i] <= x < edges[i+1]."""
    a = np.asarray(list(stalls_s) if not isinstance(stalls_s, np.ndarray) else stalls_s, dtype=np.float64)
    counts, _ = np.histogram(a, bins=edges)
    return {"edges_s": [float(x) for x in edges], "counts": [int(c) for c in counts]}


def stall_summary(stalls_s: Iterable[float]) -> dict:
    a = np.asarray(list(stalls_s) if not isinstance(stalls_s, np.ndarray) else stalls_s, dtype=np.float64)
    return {**summary(a), "histogram": stall_histogram(a)}
