"""A sweep: the cross product of workloads, collector configurations, heap sizes
and repeats, one run per process, gathered into DIR.

Order: for each workload, heap size and repeat, every configuration in turn
(configurations side by side in time, as BENCHMARKS.md asks on a shared
machine). First the minimum heaps that heap multiples need (cached), then the
runs. A run that fails or times out is recorded with its status and the sweep
goes on; Ctrl-C stops it and writes what was gathered (sweep.interrupted).
"""
from __future__ import annotations

import dataclasses
import itertools
import pathlib
import re
import shutil
import sys
import time
from typing import Iterable

from gcheap.bench import minheap, results
from gcheap.bench.executors import execute_run
from gcheap.bench.workloads import Workload
from gcheap.errors import InvalidOption


class BadSweep(InvalidOption):
    """Options that do not describe a sweep (bad --heap, --opt, --collector...)."""


@dataclasses.dataclass(frozen=True)
class Config:
    collector: str
    options: tuple[tuple[str, object], ...] = ()

    @property
    def label(self) -> str:
        if not self.options:
            return self.collector
        return self.collector + "[" + ",".join(f"{k}={v}" for k, v in self.options) + "]"


@dataclasses.dataclass(frozen=True)
class HeapSize:
    multiple: float | None = None       # of the workload's minimum heap
    nbytes: int | None = None           # absolute

    @property
    def label(self) -> str:
        if self.multiple is not None:
            return f"{self.multiple:g}x"
        n = self.nbytes
        for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
            if n % (1 << shift) == 0:
                return f"{n >> shift}{unit}"
        return str(n)


def parse_heaps(text: str) -> list[HeapSize]:
    """"2x,3x,6x" or "64M,1G" (or a mix)."""
    from gcheap.runtime import parse_size
    out = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            raise BadSweep(f"--heap: empty item in {text!r}")
        if item.lower().endswith("x"):
            try:
                m = float(item[:-1])
            except ValueError:
                raise BadSweep(f"--heap: {item!r} is not a multiple like 2x or 1.5x") from None
            if not 1.0 <= m <= 1000:
                raise BadSweep(f"--heap: multiple {item!r} must be between 1x and 1000x")
            out.append(HeapSize(multiple=m))
        else:
            try:
                out.append(HeapSize(nbytes=parse_size(item, "--heap")))
            except InvalidOption as e:
                raise BadSweep(str(e)) from None
    return out


def _option_value(text: str):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        return text


def parse_configs(collectors: str, opts: Iterable[str]) -> list[Config]:
    """--collector stw,cmc,cpython and --opt KEY=V1,V2 (cmc options; their cross product)."""
    from gcheap.runtime.cmc import OPTION_NAMES, split_options
    names = [c.strip() for c in collectors.split(",") if c.strip()]
    known = ("stw", "cmc", "cpython")
    for c in names:
        if c not in known:
            raise BadSweep(f"--collector: unknown collector {c!r} (known: {', '.join(known)})")
    if not names:
        raise BadSweep("--collector: no collector given")
    axes: list[list[tuple[str, object]]] = []
    for o in opts:
        key, eq, values = o.partition("=")
        key = key.strip()
        if not eq or not key or not values:
            raise BadSweep(f"--opt: {o!r} is not KEY=VALUE[,VALUE...]")
        if key not in OPTION_NAMES:
            raise BadSweep(f"--opt: unknown cmc option {key!r} (known: {', '.join(OPTION_NAMES)})")
        axes.append([(key, _option_value(v.strip())) for v in values.split(",")])
    out = []
    for c in dict.fromkeys(names):
        if c == "cmc" and axes:
            for combo in itertools.product(*axes):
                opts_d = dict(combo)
                try:
                    split_options("cmc", opts_d)
                except InvalidOption as e:
                    raise BadSweep(f"--opt: {e}") from None
                out.append(Config("cmc", tuple(sorted(opts_d.items()))))
        else:
            out.append(Config(c))
    return out


@dataclasses.dataclass
class Sweep:
    workloads: list[Workload]
    configs: list[Config]
    heaps: list[HeapSize]
    repeat: int = 3
    out: pathlib.Path = pathlib.Path("bench-out")
    timeout_s: float = 600.0
    cache_path: pathlib.Path | None = None
    trace: bool = True
    argv: list[str] = dataclasses.field(default_factory=list)

    def validate(self) -> None:
        if self.repeat < 1:
            raise BadSweep(f"--repeat must be at least 1, got {self.repeat}")
        if self.timeout_s <= 0:
            raise BadSweep(f"--timeout must be positive, got {self.timeout_s}")
        for w in self.workloads:
            if w.heap_relative and any(h.multiple is not None for h in self.heaps):
                raise BadSweep(f"workload {w.name} fills whatever heap it gets: give absolute --heap sizes "
                               f"(e.g. --heap 64M,256M), not multiples")
            for c in self.configs:
                if c.collector == "cpython" and w.kind != "program":
                    raise BadSweep(f"workload {w.name} is a Python-API workload: it has no CPython run")

    def configs_for(self, w: Workload) -> list[Config]:
        return [c for c in self.configs if not w.collectors or c.collector in w.collectors or c.collector == "cpython"]


def base_spec(w: Workload, c: Config) -> dict:
    return {"workload": w.name, "kind": w.kind, "target": w.target, "args": list(w.args), "units": w.units,
            "collector": c.collector, "options": dict(c.options), "config": c.label, "label": f"{w.label} {c.label}"}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")


class Progress:
    """tqdm when it is installed, else one plain line per step on stderr."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.n = total, 0
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
            except ImportError:
                pass

    def step(self, what: str) -> None:
        self.n += 1
        if self.bar is not None:
            self.bar.set_postfix_str(what[:60], refresh=False)
            self.bar.update(1)
        else:
            print(f"[{self.n}/{self.total}] {what}", file=sys.stderr, flush=True)

    def note(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(what[:40])
        else:
            print(what, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_sweep(sw: Sweep, executor, progress: bool = True) -> dict:
    """Runs the sweep and writes DIR/results.json, results.csv and traces/;
    returns the results document (sweep.interrupted after a Ctrl-C)."""
    sw.validate()
    out = sw.out
    out.mkdir(parents=True, exist_ok=True)
    traces = out / "traces"
    if traces.exists():
        shutil.rmtree(traces)
    if sw.trace:
        traces.mkdir()
    cache_path = sw.cache_path or minheap.default_cache_path()
    cache = minheap.load_cache(cache_path)

    # -- minimum heaps the multiples need
    need = []
    if any(h.multiple is not None for h in sw.heaps):
        for w in sw.workloads:
            for c in sw.configs_for(w):
                if c.collector == "cpython":
                    continue
                spec = base_spec(w, Config(c.collector, c.options if c.collector == "cmc" else ()))
                key = minheap.cache_key(spec, w.fingerprint())
                if key not in cache and all(k != key for k, _, _ in need):
                    need.append((key, w, spec))
    plan = _plan(sw)
    doc = {"schema": results.SCHEMA, "machine": results.machine_info(),
           "sweep": {"argv": sw.argv, "repeat": sw.repeat, "heaps": [h.label for h in sw.heaps],
                     "configs": [c.label for c in sw.configs], "workloads": [w.label for w in sw.workloads],
                     "executor": getattr(executor, "name", "local"), "timeout_s": sw.timeout_s,
                     "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "interrupted": False,
                     "min_heap_bytes": {}},
           "runs": []}
    bar = Progress(len(need) + len(plan), progress)
    gathered: dict[int, dict] = {}
    t_start = time.perf_counter()
    try:
        if need:
            bar.note("finding minimum heaps")
            tasks = [{"spec": spec, "first_timeout_s": sw.timeout_s} for _, _, spec in need]
            for i, res in executor.map(minheap.find_min_heap, tasks):
                key, w, spec = need[i]
                if res["status"] == "ok":
                    cache[key] = {"min_heap_bytes": res["min_heap_bytes"], "probes": len(res["probes"])}
                    minheap.save_cache(cache_path, cache)
                else:
                    cache[key] = {"error": res["error"]}
                bar.step(f"min heap {w.label} {spec['collector']}: "
                         + (f"{res['min_heap_bytes'] >> 10} KiB" if res["status"] == "ok" else "FAILED"))
        bar.note("runs")
        specs = []
        for p in plan:
            spec = dict(p)
            if spec["heap_multiple"] is not None:
                key = minheap.cache_key(base_spec(p["_workload"], Config(p["collector"], tuple(sorted(
                    p["options"].items())) if p["collector"] == "cmc" else ())), p["_workload"].fingerprint())
                entry = cache.get(key, {})
                mh = entry.get("min_heap_bytes")
                doc["sweep"]["min_heap_bytes"][f"{p['_workload'].label} {p['collector']}"] = mh
                spec["heap_bytes"] = minheap.round_up(mh * spec["heap_multiple"]) if mh else None
                spec["_minheap_error"] = entry.get("error")
            specs.append(spec)
        runnable = [s for s in specs if s["heap_bytes"] is not None or s["collector"] == "cpython"]
        for s in specs:
            if s not in runnable:
                gathered[s["_index"]] = _finish(s, {"status": "error", "error": "no minimum heap: "
                                                    + (s.get("_minheap_error") or "unknown")}, out, sw.trace)
                bar.step(f"{s['label']} {s['heap_label']} #{s['repeat']}: skipped")
        wire = [{k: v for k, v in s.items() if not k.startswith("_")} for s in runnable]
        for i, res in executor.map(execute_run, wire):
            s = runnable[i]
            gathered[s["_index"]] = _finish(s, res, out, sw.trace)
            bar.step(f"{s['label']} {s['heap_label']} #{s['repeat']}: {res['status']}"
                     + (f" {res.get('wall_s', 0):.2f} s" if res["status"] == "ok" else ""))
    except KeyboardInterrupt:
        doc["sweep"]["interrupted"] = True
    finally:
        bar.close()
    doc["sweep"]["elapsed_s"] = round(time.perf_counter() - t_start, 3)
    doc["runs"] = [gathered[i] for i in sorted(gathered)]
    results.write_json(out / "results.json", doc)
    (out / "results.csv").write_text(results.to_csv(doc))
    return doc


def _plan(sw: Sweep) -> list[dict]:
    plan = []
    for w in sw.workloads:
        for h in sw.heaps:
            for r in range(sw.repeat):
                for c in sw.configs_for(w):
                    s = base_spec(w, c)
                    s.update(heap_multiple=h.multiple, heap_bytes=h.nbytes, heap_label=h.label, repeat=r,
                             timeout_s=sw.timeout_s, trace=sw.trace, _workload=w, _index=len(plan))
                    if c.collector == "cpython":
                        if h is not sw.heaps[0]:
                            continue            # CPython has no heap size: one set of runs
                        s.update(heap_multiple=None, heap_bytes=None, heap_label="-")
                    s["_index"] = len(plan)
                    plan.append(s)
    return plan


def _finish(spec: dict, res: dict, out: pathlib.Path, trace: bool) -> dict:
    """The results.json record of one run: its spec, the runner's raw data, and
    the metrics derived from them."""
    run = {k: spec[k] for k in ("workload", "args", "collector", "options", "config", "heap_bytes",
                                "heap_multiple", "repeat")}
    run["status"] = res.get("status", "error")
    run["error"] = res.get("error")
    for k in ("wall_s", "cpu_s", "pauses", "cycles", "unobserved_cycles", "fault_stalls_s", "rss", "allocated",
              "units", "peak_rss_bytes", "output_digest", "extra"):
        run[k] = res.get(k)
    text = res.get("trace_text")
    run["trace"] = None
    if trace and text:
        name = _slug(f"{spec['workload']}-{spec['config']}-{spec['heap_label']}-r{spec['repeat']}") + ".json"
        (out / "traces" / name).write_text(text)
        run["trace"] = f"traces/{name}"
    return results.derive(run)


def dumps_summary(doc: dict) -> str:
    """A short plain-text table of the runs (printed at the end of a sweep)."""
    from gcheap.bench.report import summary_rows
    rows = summary_rows(doc)
    if not rows:
        return "no runs"
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(wd) for c, wd in zip(r, widths)) for r in rows)


__all__ = ["Sweep", "Config", "HeapSize", "parse_heaps", "parse_configs", "run_sweep", "BadSweep"]
