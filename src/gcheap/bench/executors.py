"""Where runs execute: here, one at a time, or as tasks on a Dask cluster.

A task is a plain function of a JSON-able spec (execute_run, find_min_heap), so
it runs the same on a Dask worker as here; each starts its own runner process.
DaskExecutor gives every task the worker resource "gcheap_run": 1, so a worker
started with `--resources gcheap_run=1` runs one at a time (a benchmark run
must not share its cores with another).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable, Iterator

from gcheap.errors import InvalidOption

RESOURCE = "gcheap_run"
CONNECT_TIMEOUT_S = 10.0
_DASK_URL = re.compile(r"^dask://(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")


class BadExecutor(InvalidOption):
    """An --executor value that names no executor, or a cluster that cannot be reached."""


def _runner_env() -> dict:
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")      # idle BLAS threads compete for the cores
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def execute_run(spec: dict) -> dict:
    """One run in a runner process of its own, with spec["timeout_s"]. Returns the
    runner's result (status "ok"/"error") or a "timeout"/"error" record; the trace,
    if one was asked for, comes back as text in "trace_text"."""
    import json

    with tempfile.TemporaryDirectory(prefix="gcheap-run-") as d:
        spec = dict(spec)
        want_trace = bool(spec.get("trace"))
        spec["trace"] = os.path.join(d, "trace.json") if want_trace else None
        spec_path, result_path = os.path.join(d, "spec.json"), os.path.join(d, "result.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        cmd = [sys.executable, "-m", "gcheap.bench.runner", spec_path, result_path]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env=_runner_env(), start_new_session=True)
        try:
            _, err = proc.communicate(timeout=spec.get("timeout_s"))
        except subprocess.TimeoutExpired:
            _kill(proc)
            return {"status": "timeout", "error": f"no result within {spec.get('timeout_s')} s",
                    "wall_s": time.perf_counter() - t0}
        except BaseException:
            _kill(proc)                 # Ctrl-C: the run's process group goes with us
            raise
        tail = " | ".join(err.strip().splitlines()[-3:]) if err else ""
        if proc.returncode != 0 or not os.path.exists(result_path):
            how = (f"killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
                   else f"exit status {proc.returncode}")
            return {"status": "error", "error": f"runner {how}" + (f": {tail}" if tail else ""),
                    "wall_s": time.perf_counter() - t0}
        with open(result_path) as f:
            result = json.load(f)
        if result.get("status") != "ok" and tail and not result.get("error"):
            result["error"] = tail
        if want_trace and os.path.exists(spec["trace"]):
            with open(spec["trace"]) as f:
                result["trace_text"] = f.read()
        return result


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class LocalExecutor:
    """Runs tasks here, one after the other (each in a process of its own)."""

    name = "local"

    def map(self, fn: Callable[[dict], dict], specs: list[dict]) -> Iterator[tuple[int, dict]]:
        for i, spec in enumerate(specs):
            yield i, fn(spec)

    def close(self) -> None:
        pass


class DaskExecutor:
    """Tasks on a Dask distributed cluster, one per worker at a time."""

    def __init__(self, address: str, timeout_s: float | None = None) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise BadExecutor("--executor dask://... needs dask.distributed: pip install 'gcheap[dist]'") from None
        try:
            self.client = Client(address, timeout=timeout_s or CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as e:
            raise BadExecutor(f"cannot reach the Dask scheduler at {address}: {e}") from None
        self.name = f"dask {address}"
        info = self.client.scheduler_info()
        workers = info.get("workers", {})
        if not any(w.get("resources", {}).get(RESOURCE) for w in workers.values()):
            self.client.close()
            raise BadExecutor(f"no worker of the cluster at {address} offers resource {RESOURCE}: start "
                              f"workers with `dask worker {address} --nthreads 1 --resources {RESOURCE}=1`")

    def map(self, fn: Callable[[dict], dict], specs: list[dict]) -> Iterator[tuple[int, dict]]:
        with self.client.as_current():
            yield from self._map(fn, specs)

    def _map(self, fn: Callable[[dict], dict], specs: list[dict]) -> Iterator[tuple[int, dict]]:
        from distributed import as_completed

        stamp = time.monotonic_ns()
        futures = [self.client.submit(fn, spec, resources={RESOURCE: 1}, pure=False,
                                      key=f"gcheap-{fn.__name__}-{stamp}-{i}") for i, spec in enumerate(specs)]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in as_completed(futures, with_results=False):
                try:
                    result = fut.result()
                except Exception as e:  # noqa: BLE001 - the task failed on the worker: record it
                    result = {"status": "error", "error": f"task failed on the cluster: {type(e).__name__}: {e}"}
                yield index[fut.key], result
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        self.client.close()


def make_executor(url: str):
    """LocalExecutor for "local", DaskExecutor for "dask://HOST:PORT"; raises BadExecutor."""
    if url == "local":
        return LocalExecutor()
    m = _DASK_URL.match(url or "")
    if not m or not 0 < int(m.group("port")) < 65536:
        raise BadExecutor(f"bad executor {url!r}: use local or dask://HOST:PORT")
    return DaskExecutor(f"tcp://{m.group('host')}:{m.group('port')}")
