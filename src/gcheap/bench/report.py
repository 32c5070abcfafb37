"""report.md of a sweep: a summary table per configuration and the plots
(gcheap.bench.plots; skipped with a note when matplotlib is missing)."""
from __future__ import annotations

import pathlib
import shutil

from gcheap import metrics


def heap_label(run: dict) -> str:
    m = run.get("heap_multiple")
    if m is not None:
        return f"{m:g}x"
    n = run.get("heap_bytes")
    if not n:
        return "-"
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def workload_label(run: dict) -> str:
    args = run.get("args") or []
    return run["workload"] + (":" + ",".join(args) if args else "")


def group_key(run: dict) -> tuple[str, str, str]:
    return workload_label(run), run["config"], heap_label(run)


def groups(doc: dict) -> dict[tuple[str, str, str], list[dict]]:
    """Runs by (workload, configuration, heap), in the order of the file."""
    out: dict[tuple[str, str, str], list[dict]] = {}
    for r in doc["runs"]:
        out.setdefault(group_key(r), []).append(r)
    return out


def metric_values(runs: list[dict], metric: str) -> list[float]:
    """The values of a flat metric name (results.flat_metrics) over the ok runs."""
    from gcheap.bench.results import flat_metrics
    out = []
    for r in runs:
        if r.get("status") != "ok":
            continue
        d = dict(flat_metrics(r))
        if metric in d:
            out.append(float(d[metric]))
    return out


def _fmt_spread(vals: list[float], scale: float = 1.0, digits: int = 2) -> str:
    if not vals:
        return "-"
    s = metrics.spread([v * scale for v in vals])
    if s["n"] == 1:
        return f"{s['median']:.{digits}f}"
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


SUMMARY_COLUMNS = [
    ("wall s", "wall_s", 1.0, 2),
    ("pauses", "pause.count", 1.0, 0),
    ("p50 ms", "pause.p50", 1e3, 3),
    ("p99 ms", "pause.p99", 1e3, 3),
    ("max ms", "pause.max", 1e3, 3),
    ("total ms", "pause.total", 1e3, 1),
    ("MMU 1ms", "mmu.0.001", 1.0, 3),
    ("MMU 10ms", "mmu.0.01", 1.0, 3),
    ("MMU 100ms", "mmu.0.1", 1.0, 3),
    ("metered p99 ms", "latency.metered.p99", 1e3, 2),
    ("peak RSS MiB", "peak_rss_bytes", 1 / 2**20, 0),
]


def summary_rows(doc: dict, columns=None, heaps=None) -> list[list[str]]:
    """Header plus one row per (workload, configuration, heap): median (min-max) over
    the repeats. columns: names from SUMMARY_COLUMNS (default all); heaps: only these heap labels."""
    cols = [c for c in SUMMARY_COLUMNS if columns is None or c[0] in columns]
    rows = [["workload", "config", "heap", "ok", *[c[0] for c in cols]]]
    for (w, c, h), runs in groups(doc).items():
        if heaps is not None and h not in heaps:
            continue
        ok = sum(r["status"] == "ok" for r in runs)
        rows.append([w, c, h, f"{ok}/{len(runs)}",
                     *[_fmt_spread(metric_values(runs, m), sc, d) for _, m, sc, d in cols]])
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def write_report(doc: dict, out: pathlib.Path) -> pathlib.Path:
    """Writes out/report.md (and out/plots/*.png, *.svg); returns its path."""
    from gcheap.bench import plots

    m = doc["machine"]
    sw = doc["sweep"]
    lines = ["# gcheap bench report", "",
             f"Machine: Linux {m.get('kernel')}, {m.get('cpus')} CPUs, "
             f"{(m.get('memory_bytes') or 0) / 2**30:.1f} GiB; gcheap {m.get('versions', {}).get('gcheap')} "
             f"at commit {m.get('commit')}; Python {m.get('versions', {}).get('python')}.",
             f"Sweep: `gcheap bench {' '.join(sw.get('argv', []))}` ({len(doc['runs'])} runs, executor "
             f"{sw.get('executor')}, {sw.get('elapsed_s', 0):.0f} s)."
             + (" **Interrupted: partial results.**" if sw.get("interrupted") else ""), ""]
    mins = {k: v for k, v in (sw.get("min_heap_bytes") or {}).items()}
    if mins:
        lines += ["Minimum heaps (bisection, cached): " + ", ".join(
            f"{k} {v / 2**20:.2f} MiB" if v else f"{k} none" for k, v in sorted(mins.items())) + ".", ""]
    lines += ["Each cell: median (min-max) over the repeats that completed. Times of a run are of its "
              "process; MMU is exact (gcheap.metrics) over the whole run.", "",
              markdown_table(summary_rows(doc)), ""]
    bad = [r for r in doc["runs"] if r["status"] != "ok"]
    if bad:
        lines += ["## Runs that did not complete", ""]
        lines += [f"- {workload_label(r)} {r['config']} {heap_label(r)} #{r['repeat']}: **{r['status']}** "
                  f"{r.get('error') or ''}".rstrip() for r in bad]
        lines.append("")
    lines += ["## Plots", ""]
    if (out / "plots").is_dir():
        shutil.rmtree(out / "plots")             # no stale figures from an earlier sweep
    figs, why = plots.make_all(doc, out / "plots")
    if why:
        lines += [f"Plots skipped: {why}.", ""]
    for title, name in figs:
        lines += [f"### {title}", "", f"![{title}](plots/{name}.png) ([SVG](plots/{name}.svg))", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
