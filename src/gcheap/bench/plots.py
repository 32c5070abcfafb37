"""The sweep's plots (matplotlib, PNG and SVG, deterministic for the same data):
pause CDF per configuration, MMU curves (100 us .. 1 s, log axis), RSS over
time with GC phases shaded, fault-stall histogram, and wall time and longest
pause against heap size. One figure of each kind per workload."""
from __future__ import annotations

import pathlib

import numpy as np

from gcheap import metrics
from gcheap.bench.report import groups, heap_label

MMU_PLOT_WINDOWS = np.logspace(-4, 0, 33)


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matplotlib.rcParams["svg.hashsalt"] = "gcheap-bench"     # stable SVG ids
    return plt


def _save(fig, out: pathlib.Path, name: str) -> None:
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=110, metadata={"Software": None})
    fig.savefig(out / f"{name}.svg", metadata={"Date": None, "Creator": None})
    _plt().close(fig)


def make_all(doc: dict, out: pathlib.Path) -> tuple[list[tuple[str, str]], str | None]:
    """[(title, file stem)] of the plots written into out, and why plots were
    skipped (None when they were not)."""
    try:
        plt = _plt()
    except ImportError:
        return [], "matplotlib is not installed (pip install 'gcheap[bench]')"
    out.mkdir(parents=True, exist_ok=True)
    by_workload: dict[str, dict] = {}
    for key, runs in groups(doc).items():
        by_workload.setdefault(key[0], {})[key] = [r for r in runs if r["status"] == "ok"]
    figs: list[tuple[str, str]] = []
    for w, grp in by_workload.items():
        stem = w.replace(":", "_").replace(",", "_").replace("/", "_")
        if not any(grp.values()):
            continue
        figs += [f for f in (_pause_cdf(plt, w, grp, out, stem), _mmu(plt, w, grp, out, stem),
                             _rss(plt, w, grp, out, stem), _stalls(plt, w, grp, out, stem),
                             _vs_heap(plt, w, grp, out, stem)) if f]
    return figs, None


def _label(key) -> str:
    return f"{key[1]} {key[2]}"


def _pause_cdf(plt, w, grp, out, stem):
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = False
    for key, runs in grp.items():
        d = np.sort([p["duration_s"] * 1e3 for r in runs for p in r["pauses"] or []])
        if d.size:
            ax.step(d, np.arange(1, d.size + 1) / d.size, where="post", label=_label(key))
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_xlabel("pause (ms)")
    ax.set_ylabel("fraction of pauses <= x")
    ax.set_title(f"{w}: pause CDF (all repeats)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save(fig, out, f"{stem}-pause-cdf")
    return (f"{w}: pause CDF", f"{stem}-pause-cdf")


def _mmu(plt, w, grp, out, stem):
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, runs in grp.items():
        curves = [list(metrics.mmu_curve([p["start_s"] for p in r["pauses"]], [p["duration_s"] for p in r["pauses"]],
                                         r["wall_s"], MMU_PLOT_WINDOWS).values()) for r in runs if r.get("wall_s")]
        if curves:
            ax.plot(MMU_PLOT_WINDOWS, np.median(np.array(curves), axis=0), label=_label(key))
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("window (s)")
    ax.set_ylabel("minimum mutator utilisation")
    ax.set_title(f"{w}: MMU (median over repeats)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    _save(fig, out, f"{stem}-mmu")
    return (f"{w}: MMU", f"{stem}-mmu")


def _rss(plt, w, grp, out, stem):
    """The first repeat of each configuration at the smallest heap."""
    chosen = {}
    for key, runs in grp.items():
        if runs and runs[0].get("rss") and (key[1] not in chosen or _heap_order(runs[0]) < _heap_order(chosen[key[1]])):
            chosen[key[1]] = runs[0]
    if not chosen:
        return None
    fig, axes = plt.subplots(len(chosen), 1, figsize=(8, 2.2 * len(chosen)), sharex=True, squeeze=False)
    for ax, (config, r) in zip(axes[:, 0], chosen.items()):
        rss = np.array(r["rss"], dtype=float)
        ax.plot(rss[:, 0], rss[:, 1] / 2**20, color="C0", lw=1)
        for p in r["pauses"]:
            ax.axvspan(p["start_s"], p["start_s"] + p["duration_s"], color="C3", alpha=0.5, lw=0)
        for c in r.get("cycles") or []:
            ax.axvspan(c["start_s"], c["start_s"] + c["duration_s"], color="C2", alpha=0.25, lw=0)
        ax.set_ylabel("RSS MiB")
        ax.set_title(f"{config} {heap_label(r)} #{r['repeat']}: pauses red, concurrent compaction green", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"{w}: RSS over time", fontsize=10)
    _save(fig, out, f"{stem}-rss")
    return (f"{w}: RSS over time with GC phases", f"{stem}-rss")


def _heap_order(r) -> float:
    return r.get("heap_multiple") or (r.get("heap_bytes") or 0) / 2**40


def _stalls(plt, w, grp, out, stem):
    by_config: dict[str, list[float]] = {}
    for key, runs in grp.items():
        for r in runs:
            by_config.setdefault(key[1], []).extend((r.get("fault_stalls") or {}).get("raw_s") or [])
    by_config = {k: v for k, v in by_config.items() if v}
    if not by_config:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    edges = metrics.STALL_BIN_EDGES[1:-1]
    for config, stalls in by_config.items():
        counts, _ = np.histogram(np.clip(stalls, edges[0], edges[-1]), bins=edges)
        ax.stairs(counts, edges * 1e6, label=f"{config} (n={len(stalls)}, p99 "
                  f"{metrics.percentile(stalls, 99) * 1e6:.1f} us)")
    ax.set_xscale("log")
    ax.set_xlabel("fault stall (us)")
    ax.set_ylabel("faults")
    ax.set_title(f"{w}: mutator fault stalls (all runs)")
    ax.legend(fontsize=7)
    _save(fig, out, f"{stem}-stalls")
    return (f"{w}: fault-stall histogram", f"{stem}-stalls")


def _vs_heap(plt, w, grp, out, stem):
    series: dict[str, list] = {}
    for key, runs in grp.items():
        if not runs or runs[0]["collector"] == "cpython":
            continue
        x = runs[0].get("heap_multiple") or runs[0]["heap_bytes"] / 2**20
        walls = [r["wall_s"] for r in runs]
        maxp = [max((p["duration_s"] for p in r["pauses"]), default=0.0) * 1e3 for r in runs]
        series.setdefault(key[1], []).append((x, metrics.spread(walls), metrics.spread(maxp)))
    series = {k: sorted(v, key=lambda t: t[0]) for k, v in series.items() if len(v) > 1}
    if not series:
        return None
    multiples = any(r.get("heap_multiple") for runs in grp.values() for r in runs)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for config, pts in series.items():
        xs = [p[0] for p in pts]
        for ax, idx in ((a1, 1), (a2, 2)):
            med = np.array([p[idx]["median"] for p in pts])
            lo = med - np.array([p[idx]["min"] for p in pts])
            hi = np.array([p[idx]["max"] for p in pts]) - med
            ax.errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=3, label=config)
    for ax, what in ((a1, "wall time (s)"), (a2, "longest pause (ms)")):
        ax.set_xlabel("heap (x minimum heap)" if multiples else "heap (MiB)")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{w}: time and longest pause against heap size (median, min-max)", fontsize=10)
    _save(fig, out, f"{stem}-vs-heap")
    return (f"{w}: time and longest pause against heap size", f"{stem}-vs-heap")
