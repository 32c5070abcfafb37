"""gcheap.metrics against brute force on random logs (hypothesis).

Brute-force MMU: pause logs on an integer grid, every integer window start
a in [0, T - w] evaluated by summing each pause's overlap with [a, a + w].
Paused time in a window is piecewise linear in a with integer breakpoints, so
its maximum over the reals is reached on that grid: the two must be equal.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcheap import metrics

EXAMPLES = 300


def brute_mmu(pauses, T, w):
    if w >= T:
        w = T
    best = 0
    for a in range(0, T - w + 1):
        covered = set()
        for s, d in pauses:                       # union of overlaps: pauses may overlap
            covered.update(range(max(s, a), min(s + d, a + w)))
        best = max(best, len(covered))
    return 1 - best / w


def brute_metered(starts, ends):
    units = sorted(zip(starts, ends), key=lambda u: u[0])
    n = len(units)
    first, last = units[0][0], units[-1][0]
    out = []
    for k, (s, e) in enumerate(units):
        synthetic = first + (last - first) * k / n
        out.append(max(e - s, e - synthetic))
    return out


logs = st.integers(min_value=1, max_value=60).flatmap(
    lambda T: st.tuples(st.just(T),
                        st.lists(st.tuples(st.integers(0, T), st.integers(0, 12)), max_size=8),
                        st.integers(1, T + 5)))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs)
def test_mmu_equals_brute_force(log):
    T, pauses, w = log
    exact = metrics.mmu([s for s, _ in pauses], [d for _, d in pauses], T, w)
    # the log is clamped to the run: a pause past T counts only up to T
    want = brute_mmu(pauses, T, w)
    assert exact == pytest.approx(want, abs=1e-12)
    # the same log in seconds-like units (1 unit = 100 us): floating-point starts
    scale = 1e-4
    assert metrics.mmu([s * scale for s, _ in pauses], [d * scale for _, d in pauses], T * scale,
                       w * scale) == pytest.approx(want, abs=1e-9)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 50)), min_size=1, max_size=40))
def test_metered_latency_equals_brute_force(units):
    starts = [float(s) for s, _ in units]
    ends = [float(s + d) for s, d in units]
    got = metrics.metered_latency(starts, ends)
    want = brute_metered(starts, ends)
    # same multiset: the order of units with equal starts does not change the values
    assert sorted(got.tolist()) == pytest.approx(sorted(want), abs=1e-9)
    assert (got >= metrics.simple_latency(starts, ends) - 1e-12).all()


def test_mmu_known_values():
    # one 10 ms pause in a 1 s run
    assert metrics.mmu([0.5], [0.01], 1.0, 0.01) == 0.0
    assert metrics.mmu([0.5], [0.01], 1.0, 0.02) == pytest.approx(0.5)
    assert metrics.mmu([0.5], [0.01], 1.0, 1.0) == pytest.approx(0.99)
    assert metrics.mmu([], [], 1.0, 0.001) == 1.0
    curve = metrics.mmu_curve([0.5], [0.01], 1.0)
    assert list(curve) == ["0.0001", "0.0003", "0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1"]
    assert curve["0.01"] == pytest.approx(0.0, abs=1e-9) and curve["0.1"] == pytest.approx(0.9)


def test_overlapping_pauses_are_merged():
    s, e = metrics.merge_intervals([0.0, 1.0, 1.5, 5.0], [2.0, 0.2, 1.0, 1.0])
    assert s.tolist() == [0.0, 5.0] and e.tolist() == [2.5, 6.0]


def test_bad_mmu_input():
    with pytest.raises(ValueError):
        metrics.mmu([0.0], [1.0], 0.0, 1.0)
    with pytest.raises(ValueError):
        metrics.mmu([0.0], [1.0], 2.0, 0.0)


def test_nearest_rank_percentiles():
    s = metrics.pause_summary([float(i) for i in range(1, 101)])
    assert (s["count"], s["p50"], s["p90"], s["p99"], s["p99.9"], s["max"], s["total"]) == \
        (100, 50.0, 90.0, 99.0, 100.0, 100.0, 5050.0)
    assert metrics.pause_summary([])["count"] == 0
    assert metrics.percentile([3.0], 99.9) == 3.0


def test_latency_summary_and_stall_histogram():
    lat = metrics.latency_summary([0.0, 1.0, 2.0], [1.0, 5.0, 3.0])
    assert lat["units"] == 3 and lat["simple"]["max"] == 4.0
    assert lat["metered"]["max"] >= lat["simple"]["max"]
    assert metrics.latency_summary([], []) == {}
    h = metrics.stall_histogram([2e-6, 2e-6, 0.5, 5.0])
    assert sum(h["counts"]) == 4 and len(h["counts"]) == len(h["edges_s"]) - 1
    assert math.isinf(h["edges_s"][-1])


def test_spread():
    assert metrics.spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert np.isnan(metrics.spread([])["median"])
