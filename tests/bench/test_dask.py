"""--executor dask://HOST:PORT for real: a scheduler and two workers (resource
gcheap_run=1) started on localhost by the test, a small sweep through them."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time

import pytest

from gcheap.bench import results
from gcheap.cli import main

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'gcheap[dist]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args: str) -> subprocess.Popen:
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, start_new_session=True)


@contextlib.contextmanager
def cluster(workers: int = 2):
    port = _free_port()
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")]
    try:
        addr = f"tcp://127.0.0.1:{port}"
        for _ in range(workers):
            procs.append(_dask("worker", addr, "--nthreads", "1", "--nworkers", "1", "--resources", "gcheap_run=1",
                               "--no-dashboard", "--host", "127.0.0.1"))
        with distributed.Client(addr, timeout=30) as c:
            c.wait_for_workers(workers, timeout=60)
        yield port
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, 15)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait()


def test_sweep_on_a_dask_cluster(tmp_path, capsys):
    with cluster(2) as port:
        t = time.monotonic()
        rc = main(["bench", "gcbench:6", "binarytrees:6", "--collector", "stw,cmc", "--heap", "2x", "--repeat", "2",
                   "--executor", f"dask://127.0.0.1:{port}", "--no-progress", "--cache", str(tmp_path / "c.json"),
                   "--out", str(tmp_path / "o")])
        assert rc == 0, capsys.readouterr().err
        elapsed = time.monotonic() - t
    doc = results.load(tmp_path / "o" / "results.json")
    assert doc["sweep"]["executor"] == f"dask tcp://127.0.0.1:{port}"
    runs = doc["runs"]
    assert len(runs) == 8 and all(r["status"] == "ok" for r in runs), [r.get("error") for r in runs]
    # gathered in plan order, whatever order the workers finished in
    assert [(r["workload"], r["repeat"], r["config"]) for r in runs] == [
        (w, rep, c) for w in ("gcbench", "binarytrees") for rep in (0, 1) for c in ("stw", "cmc")]
    assert all((tmp_path / "o" / r["trace"]).exists() for r in runs)
    assert len(doc["sweep"]["min_heap_bytes"]) == 4 and all(doc["sweep"]["min_heap_bytes"].values())
    assert elapsed < 120


def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from gcheap.bench import executors
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT_S", 1.0)
    port = _free_port()
    rc = main(["bench", "gcbench:6", "--executor", f"dask://127.0.0.1:{port}", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot reach the Dask scheduler" in err and err.count("\n") == 1


def test_workers_without_the_resource_are_refused(tmp_path, capsys):
    port = _free_port()
    sched = _dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
    worker = _dask("worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1")
    try:
        with distributed.Client(f"tcp://127.0.0.1:{port}", timeout=30) as c:
            c.wait_for_workers(1, timeout=60)
        rc = main(["bench", "gcbench:6", "--executor", f"dask://127.0.0.1:{port}", "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert rc == 2 and "--resources gcheap_run=1" in err
    finally:
        for p in (worker, sched):
            os.killpg(p.pid, 15)
            p.wait(10)
