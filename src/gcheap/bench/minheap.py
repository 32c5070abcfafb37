"""The minimum heap of a workload: the smallest heap it completes in, by bisection.

A probe is one run of the workload (no trace) in a heap of the size tried. It
"fits" when the run ends with status ok within the probe timeout: near the
minimum a collector can thrash, and a run more than SLOWDOWN times slower than
in a roomy heap counts as not fitting (so the minimum is a practical one).
First a reference run in a roomy heap (ROOMY, at most a quarter of the memory)
gives that time (a failure there stops the search: the workload is broken, not
the heap); then growth doubles from START until a probe fits, and bisection
narrows [lo, hi] to within TOLERANCE of hi. Results are cached in a
JSON file, keyed by workload, arguments, program contents, collector and gcheap
version, so a sweep run again uses the same heaps.
"""
from __future__ import annotations

import json
import os
import pathlib
import time

from gcheap.bench.executors import execute_run

START = 8 << 20
ROOMY = 4 << 30
GRANULE = 256 << 10             # heap sizes are multiples of this
TOLERANCE = 1 / 32
SLOWDOWN = 3.0


def round_up(n: float, granule: int = GRANULE) -> int:
    return max(granule, -(-int(n) // granule) * granule)


def default_cache_path() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "gcheap" / "minheap.json"


def cache_key(spec: dict, fingerprint: str) -> str:
    from gcheap import __version__
    return json.dumps([spec["workload"], list(spec["args"]), fingerprint, spec["collector"], __version__])


def load_cache(path: pathlib.Path) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}          # a missing or broken cache is an empty one


def save_cache(path: pathlib.Path, cache: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(cache, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _physical_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def find_min_heap(task: dict) -> dict:
    """Bisection for one workload and collector (a task: runs where it is sent).
    task = {"spec": run spec without heap_bytes, "first_timeout_s": s}."""
    spec = task["spec"]
    probes: list[dict] = []
    limit = min(_physical_memory(), 1 << 40)

    def probe(heap: int, timeout: float) -> dict:
        t = time.perf_counter()
        r = execute_run({**spec, "heap_bytes": heap, "timeout_s": timeout, "trace": None, "units": False})
        probes.append({"heap_bytes": heap, "status": r["status"], "seconds": round(time.perf_counter() - t, 3)})
        return r

    roomy = round_up(min(ROOMY, limit // 4))
    r = probe(roomy, task["first_timeout_s"])
    if r["status"] != "ok":
        return {"status": "error", "probes": probes,
                "error": f"fails in a roomy heap of {roomy >> 20} MiB: {r.get('error') or r['status']}"}
    timeout = 1.0 + SLOWDOWN * r["wall_s"]        # 1 s: process start-up, not in wall_s
    lo, hi = 0, START
    while hi < roomy and probe(hi, timeout)["status"] != "ok":
        lo, hi = hi, hi * 2
    hi = min(hi, roomy)
    while hi - lo > max(GRANULE, hi * TOLERANCE):
        mid = round_up((lo + hi) / 2)
        if mid >= hi:
            break
        if probe(mid, timeout)["status"] == "ok":
            hi = mid
        else:
            lo = mid
    return {"status": "ok", "min_heap_bytes": hi, "probes": probes}
