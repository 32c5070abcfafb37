"""`gcheap bench --compare A/results.json B/results.json`: B against A, per
configuration and metric, as the ratio of the medians over the repeats with its
min-max spread [min(B) / max(A), max(B) / min(A)]. When that spread contains
1.0, the runs of A and B overlap and the difference is within the noise: the
line says so instead of claiming a speed-up."""
from __future__ import annotations

import math

from gcheap.bench.report import groups, metric_values

METRICS = ("wall_s", "cpu_s", "pause.count", "pause.p50", "pause.p99", "pause.max", "pause.total",
           "mmu.0.001", "mmu.0.01", "mmu.0.1", "latency.simple.p99", "latency.metered.p99", "peak_rss_bytes")


def compare(a: dict, b: dict) -> list[dict]:
    """One row per (workload, config, heap, metric) present in both, with both
    sides' medians, the ratio B/A and its spread."""
    ga, gb = groups(a), groups(b)
    rows = []
    for key in ga:
        if key not in gb:
            continue
        for m in METRICS:
            va, vb = metric_values(ga[key], m), metric_values(gb[key], m)
            if not va or not vb:
                continue
            ma, mb = _median(va), _median(vb)
            row = {"workload": key[0], "config": key[1], "heap": key[2], "metric": m, "a": ma, "b": mb,
                   "n_a": len(va), "n_b": len(vb)}
            if ma > 0 and min(va) > 0:
                row.update(ratio=mb / ma, lo=min(vb) / max(va), hi=max(vb) / min(va))
                row["meaningful"] = not (row["lo"] <= 1.0 <= row["hi"]) and len(va) > 1 and len(vb) > 1
            rows.append(row)
    return rows


def _median(v: list[float]) -> float:
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def format_rows(rows: list[dict], a_name: str, b_name: str) -> str:
    if not rows:
        return f"no configuration is in both {a_name} and {b_name}: nothing to compare"
    out = [f"B = {b_name}, A = {a_name}; ratio = median(B) / median(A), spread = [min(B)/max(A), max(B)/min(A)]"]
    hdr = ("workload", "config", "heap", "metric", "A", "B", "ratio", "spread", "")
    table = [hdr]
    for r in rows:
        if "ratio" in r:
            verdict = ("" if r["meaningful"] else
                       "spread includes 1: no meaningful difference" if r["n_a"] > 1 and r["n_b"] > 1 else
                       "one run per side: no spread to judge by")
            table.append((r["workload"], r["config"], r["heap"], r["metric"], _num(r["a"]), _num(r["b"]),
                          f"{r['ratio']:.3f}", f"{r['lo']:.3f}-{r['hi']:.3f}", verdict))
        else:
            table.append((r["workload"], r["config"], r["heap"], r["metric"], _num(r["a"]), _num(r["b"]),
                          "n/a", "", "A is zero: no ratio"))
    widths = [max(len(t[i]) for t in table) for i in range(len(hdr))]
    out += ["  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip() for t in table]
    n_mean = sum(1 for r in rows if r.get("meaningful"))
    out.append(f"{len(rows)} comparisons, {n_mean} with a spread that excludes 1")
    return "\n".join(out)


def _num(v: float) -> str:
    if v == 0 or math.isnan(v):
        return f"{v:g}"
    if abs(v) >= 1e6:
        return f"{v:.4g}"
    return f"{v:.4g}" if abs(v) >= 1e-3 else f"{v:.3e}"
