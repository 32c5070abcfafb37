"""results.json and results.csv: the sweep's raw runs and the metrics derived
from them (all computed by gcheap.metrics, here and nowhere else in the harness).

results.json = {"schema": 1, "machine": {...}, "sweep": {...}, "runs": [RUN, ...]}
RUN keys (sorted in the file): workload, args, config, collector, options,
heap_bytes, heap_multiple, repeat, status ("ok", "error", "timeout"), error,
wall_s, cpu_s, pauses [{kind, start_s, duration_s, cause, phases}],
pause_summary, mmu {window_s: utilisation}, latency {units, simple, metered},
cycles, unobserved_cycles, fault_stalls (summary + histogram), peak_rss_bytes,
rss [[t_s, bytes]], allocated [[t_s, bytes]], units [[start_s, end_s]],
trace (path relative to the results), output_digest, extra.
"""
from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import platform
import subprocess
import sys

from gcheap import metrics

SCHEMA = 1
STATUSES = ("ok", "error", "timeout")


class BadResults(ValueError):
    """A results.json that cannot be read or is not one."""


def derive(run: dict) -> dict:
    """Adds the metrics of a run from its raw data (pauses, units, stalls)."""
    pauses = run.get("pauses") or []
    wall = run.get("wall_s") or 0.0
    run["pause_summary"] = metrics.pause_summary([p["duration_s"] for p in pauses])
    if wall > 0 and run.get("status") == "ok":
        run["mmu"] = metrics.mmu_curve([p["start_s"] for p in pauses], [p["duration_s"] for p in pauses], wall)
    else:
        run["mmu"] = {}
    units = run.get("units") or []
    run["latency"] = metrics.latency_summary([u[0] for u in units], [u[1] for u in units])
    stalls = run.pop("fault_stalls_s", None)
    if stalls is None:
        stalls = run.get("fault_stalls", {}).get("raw_s", [])
    run["fault_stalls"] = {**metrics.stall_summary(stalls), "raw_s": stalls} if stalls else {}
    return run


def machine_info() -> dict:
    """What the numbers were measured on (the commit of the gcheap source tree)."""
    import numpy

    from gcheap import __version__ as gv

    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    versions = {"gcheap": gv, "python": platform.python_version(), "numpy": numpy.__version__}
    for mod in ("matplotlib", "tqdm", "distributed"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:       # noqa: BLE001 - optional
            pass
    return {"kernel": platform.release(), "cpus": os.cpu_count(), "memory_bytes": mem, "commit": git_commit(),
            "versions": versions, "machine": platform.machine()}


def git_commit() -> str | None:
    src = pathlib.Path(__file__).resolve().parents[3]
    try:
        r = subprocess.run(["git", "-C", str(src), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                           text=True, timeout=10)
        if r.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            return r.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def write_json(path: pathlib.Path, doc: dict) -> None:
    """Sorted keys; everything but the runs indented, each run on one line (a
    run's raw arrays run to thousands of numbers: one per line would triple the
    file), so that two sweeps diff run by run."""
    head = {k: v for k, v in doc.items() if k != "runs"}
    text = json.dumps({**head, "runs": []}, indent=1, sort_keys=True)
    runs = ",\n".join("  " + json.dumps(r, sort_keys=True, separators=(",", ":")) for r in doc.get("runs", []))
    text = text.replace('"runs": []', '"runs": [\n' + runs + "\n ]" if runs else '"runs": []', 1)
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def load(path: "str | os.PathLike") -> dict:
    """A results.json, checked; raises BadResults with a one-line reason."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise BadResults(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadResults(f"{path}: is a directory (give DIR/results.json)") from None
    except OSError as e:
        raise BadResults(f"{path}: cannot read: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadResults(f"{path}: not JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("runs"), list):
        raise BadResults(f"{path}: not a gcheap bench results file (schema {SCHEMA})")
    for i, r in enumerate(doc["runs"]):
        if not isinstance(r, dict) or not {"workload", "config", "status"} <= set(r):
            raise BadResults(f"{path}: run {i} lacks workload/config/status")
    return doc


# ---------------------------------------------------------------- tidy CSV

CSV_KEYS = ("workload", "args", "config", "collector", "options", "heap_bytes", "heap_multiple", "repeat", "status")


def flat_metrics(run: dict) -> list[tuple[str, float]]:
    """(metric, value) pairs of one run, in a fixed order."""
    out: list[tuple[str, float]] = []

    def add(name, v):
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, (int, float)) and v is not None:
            out.append((name, v))

    for k in ("wall_s", "cpu_s", "peak_rss_bytes", "unobserved_cycles"):
        add(k, run.get(k))
    add("cycles", len(run.get("cycles") or []))
    for k, v in (run.get("pause_summary") or {}).items():
        add(f"pause.{k}", v)
    for k, v in (run.get("mmu") or {}).items():
        add(f"mmu.{k}", v)
    lat = run.get("latency") or {}
    add("latency.units", lat.get("units"))
    for kind in ("simple", "metered"):
        for k, v in (lat.get(kind) or {}).items():
            add(f"latency.{kind}.{k}", v)
    for k, v in (run.get("fault_stalls") or {}).items():
        if k not in ("histogram", "raw_s"):
            add(f"fault_stalls.{k}", v)
    for k, v in sorted((run.get("extra") or {}).items()):
        add(f"extra.{k}", v)
    return out


def to_csv(doc: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*CSV_KEYS, "metric", "value"])
    for r in doc["runs"]:
        key = [r.get("workload"), " ".join(r.get("args") or []), r.get("config"), r.get("collector"),
               json.dumps(r.get("options") or {}, sort_keys=True), r.get("heap_bytes"), r.get("heap_multiple"),
               r.get("repeat"), r.get("status")]
        rows = flat_metrics(r)
        if not rows:
            w.writerow([*key, "", ""])
        for name, v in rows:
            w.writerow([*key, name, repr(v) if isinstance(v, float) else v])
    return buf.getvalue()


def print_err(msg: str) -> None:
    print(msg, file=sys.stderr)
