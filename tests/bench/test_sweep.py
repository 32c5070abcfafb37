"""`gcheap bench` end to end on seconds-long workloads: the files of a sweep, runs
that crash or time out, bad input, Ctrl-C, repeatability, optional libraries."""
from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time

import pytest

from gcheap.bench import executors, results, sweep, workloads
from gcheap.cli import main

from .test_timeline import check_trace_shape

LOOP = "import sys\nn = int(sys.argv[1])\ni = 0\nwhile i < n:\n    i += 1\nprint(i)\n"


def bench(tmp_path, *args) -> int:
    return main(["bench", "--no-progress", "--cache", str(tmp_path / "cache.json"), *args])


def test_tiny_sweep_writes_every_file(tmp_path, capsys):
    out = tmp_path / "bench-out" / "default"
    rc = bench(tmp_path, "gcbench:6", "--collector", "stw,cmc", "--heap", "2x", "--repeat", "1", "--out", str(out))
    assert rc == 0, capsys.readouterr().err
    doc = results.load(out / "results.json")
    assert set(doc["machine"]) >= {"kernel", "cpus", "memory_bytes", "commit", "versions"}
    assert [(r["workload"], r["config"], r["status"]) for r in doc["runs"]] == [("gcbench", "stw", "ok"),
                                                                               ("gcbench", "cmc", "ok")]
    mh = doc["sweep"]["min_heap_bytes"]["gcbench:6 stw"]
    for r in doc["runs"]:
        assert r["heap_bytes"] >= 2 * mh and r["heap_multiple"] == 2.0
        assert r["pauses"] and set(r["pauses"][0]) >= {"kind", "start_s", "duration_s"}
        assert r["pause_summary"]["count"] == len(r["pauses"])
        assert list(r["mmu"]) == ["0.0001", "0.0003", "0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1"]
        assert 0 <= r["mmu"]["0.001"] <= r["mmu"]["1"] <= 1
        assert r["latency"]["units"] > 10 and r["latency"]["metered"]["max"] >= r["latency"]["simple"]["max"]
        assert r["peak_rss_bytes"] > 0 and r["wall_s"] > 0
        check_trace_shape(json.loads((out / r["trace"]).read_text()))
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {"wall_s", "pause.p99", "mmu.0.001", "latency.metered.p99"} <= {row["metric"] for row in rows}
    assert {row["config"] for row in rows} == {"stw", "cmc"}
    report = (out / "report.md").read_text()
    assert "| gcbench:6 | cmc | 2x | 1/1 |" in report
    assert "plots/gcbench_6-mmu.png" in report and (out / "plots" / "gcbench_6-mmu.svg").exists()
    # the minimum heap is cached: a second sweep does not search again
    cache = json.loads((tmp_path / "cache.json").read_text())
    assert len(cache) == 2 and all("min_heap_bytes" in v for v in cache.values())
    # docs/benchmarks.md and the README block are generated from such a directory
    from gcheap.bench.docs import BEGIN, END, write_docs
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "README.md").write_text(f"# x\n{BEGIN}\nold table\n{END}\ntail\n")
    write_docs(tmp_path / "bench-out", root)
    md = (root / "docs" / "benchmarks.md").read_text()
    readme = (root / "README.md").read_text()
    assert "| gcbench:6 | stw | 2x | 1/1 |" in md and "old table" not in readme and readme.endswith(f"{END}\ntail\n")
    assert "### GC workloads: stw against cmc" in readme


def test_failed_and_timed_out_runs_are_recorded_and_the_sweep_goes_on(tmp_path, capsys):
    loop = tmp_path / "loop.py"
    loop.write_text(LOOP)
    bad = tmp_path / "bad.py"
    bad.write_text("x = [1]\nprint(x[5])\n")
    rc = bench(tmp_path, f"{loop}:100000000000", str(bad), f"{loop}:10", "--collector", "stw", "--heap", "8M",
               "--repeat", "1", "--timeout", "1.5", "--out", str(tmp_path / "o"))
    assert rc == 0
    runs = results.load(tmp_path / "o" / "results.json")["runs"]
    assert [r["status"] for r in runs] == ["timeout", "error", "ok"]
    assert "IndexError" in runs[1]["error"]
    assert "| loop:100000000000 | stw | 8M | 0/1 |" in (tmp_path / "o" / "report.md").read_text()


def test_a_crashing_runner_is_recorded(tmp_path, monkeypatch):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nkill -SEGV $$\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    r = executors.execute_run({"kind": "program", "target": "x.py", "args": [], "collector": "stw",
                               "heap_bytes": 1 << 20, "timeout_s": 10})
    assert r["status"] == "error" and "SIGSEGV" in r["error"]


@pytest.mark.parametrize("args, message", [
    (["nosuch"], "unknown workload 'nosuch'"),
    (["missing.py"], "no such program file"),
    (["gcbench", "--heap", "2y"], "cannot parse '2y'"),
    (["gcbench", "--heap", "0.5x"], "between 1x and 1000x"),
    (["gcbench", "--heap", "2x,,3x"], "empty item"),
    (["gcbench", "--collector", "g1"], "unknown collector 'g1'"),
    (["gcbench", "--opt", "fault_mode"], "is not KEY=VALUE"),
    (["gcbench", "--opt", "speed=fast"], "unknown cmc option 'speed'"),
    (["gcbench", "--opt", "fault_mode=psychic"], "fault_mode must be one of"),
    (["gcbench", "--repeat", "0"], "--repeat must be at least 1"),
    (["half_live"], "give absolute --heap sizes"),
    (["half_live", "--heap", "16M", "--cpython"], "has no CPython run"),
    (["gcbench", "--executor", "dask://nohostport"], "bad executor"),
    (["gcbench", "--executor", "spark://x:1"], "bad executor"),
    (["--suite", "nosuch"], "unknown suite"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    assert bench(tmp_path, *args, "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o" / "results.json").exists()


def test_compare_bad_files(tmp_path, capsys):
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"schema": 7}')
    for a, msg in ((tmp_path / "nope.json", "no such file"), (tmp_path / "junk.json", "not JSON"),
                   (tmp_path / "other.json", "not a gcheap bench results file"), (tmp_path, "is a directory")):
        assert main(["bench", "--compare", str(a), str(a)]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1


def _doc(walls: dict) -> dict:
    runs = []
    for (config, rep), wall in walls.items():
        r = {"workload": "w", "args": [], "config": config, "collector": config, "options": {}, "heap_bytes": 1 << 20,
             "heap_multiple": 2.0, "repeat": rep, "status": "ok", "wall_s": wall,
             "pauses": [{"kind": config, "start_s": 0.1, "duration_s": 0.01 * wall}], "units": []}
        runs.append(results.derive(r))
    return {"schema": 1, "machine": {}, "sweep": {}, "runs": runs}


def test_compare_says_when_the_spread_makes_a_difference_meaningless(tmp_path, capsys):
    a = _doc({("stw", 0): 1.0, ("stw", 1): 1.1, ("cmc", 0): 1.0, ("cmc", 1): 1.2})
    b = _doc({("stw", 0): 2.0, ("stw", 1): 2.2, ("cmc", 0): 1.1, ("cmc", 1): 1.15})
    for name, d in (("a", a), ("b", b)):
        results.write_json(tmp_path / f"{name}.json", d)
    assert main(["bench", "--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    stw = next(ln for ln in out.splitlines() if ln.startswith("w ") and " stw " in ln and "wall_s" in ln)
    cmc = next(ln for ln in out.splitlines() if ln.startswith("w ") and " cmc " in ln and "wall_s" in ln)
    assert "2.000" in stw and "1.818-2.200" in stw and "meaningful" not in stw
    assert "no meaningful difference" in cmc


def test_interrupt_writes_what_was_gathered(tmp_path):
    """A real SIGINT to `gcheap bench` mid-sweep: exit 130, results.json holds the
    finished runs, and no runner process is left behind."""
    loop = tmp_path / "loop.py"
    loop.write_text(LOOP)
    out = tmp_path / "o"
    p = subprocess.Popen([sys.executable, "-c", "import sys; from gcheap.cli import main; sys.exit(main())", "bench", f"{loop}:300000", "--collector", "stw",
                          "--heap", "8M", "--repeat", "200", "--no-progress", "--no-trace", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    seen = ""
    while "[3/200]" not in seen and time.monotonic() < deadline:
        seen += p.stderr.readline()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    doc = results.load(out / "results.json")
    assert doc["sweep"]["interrupted"] and 3 <= len(doc["runs"]) < 200
    assert all(r["status"] == "ok" for r in doc["runs"])
    leftover = subprocess.run(["pgrep", "-f", f"gcheap.bench.runner .*{tmp_path.name}"], capture_output=True)
    assert leftover.stdout == b""


def _structure(doc: dict) -> list:
    """What must not change between two runs of the same sweep (stw: a
    deterministic program collects at the same points)."""
    return [(r["workload"], r["config"], r["heap_bytes"], r["repeat"], r["status"], r["output_digest"],
             len(r["pauses"]), r["latency"]["units"], sorted(r)) for r in doc["runs"]]


def test_same_command_same_files_apart_from_timings(tmp_path):
    docs = []
    for name in ("a", "b"):
        assert bench(tmp_path, "binarytrees:8", "--collector", "stw", "--heap", "2x,3x", "--repeat", "2",
                     "--no-trace", "--out", str(tmp_path / name)) == 0
        docs.append(results.load(tmp_path / name / "results.json"))
    assert _structure(docs[0]) == _structure(docs[1])
    assert docs[0]["sweep"]["min_heap_bytes"] == docs[1]["sweep"]["min_heap_bytes"]


def test_without_tqdm_and_matplotlib(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert bench(tmp_path, "splay:1,100", "--collector", "stw", "--heap", "32M", "--repeat", "1",
                 "--out", str(tmp_path / "o")) == 0
    err = capsys.readouterr().err
    assert "[1/1] splay:1,100 stw 32M #0: ok" in err
    assert "Plots skipped: matplotlib is not installed" in (tmp_path / "o" / "report.md").read_text()


def test_workload_resolution():
    assert workloads.resolve("binarytrees:12").args == ("12",)
    assert workloads.resolve("splay", small=True).args == ("2", "500")
    assert [h.label for h in sweep.parse_heaps("2x,1.5x,64M,1G")] == ["2x", "1.5x", "64M", "1G"]
    cfgs = sweep.parse_configs("stw,cmc", ["fault_mode=sigbus,thread", "gc_threads=1,2"])
    assert [c.label for c in cfgs] == ["stw", "cmc[fault_mode=sigbus,gc_threads=1]",
                                       "cmc[fault_mode=sigbus,gc_threads=2]", "cmc[fault_mode=thread,gc_threads=1]",
                                       "cmc[fault_mode=thread,gc_threads=2]"]


def test_api_workloads_under_both_collectors(tmp_path, capsys):
    """half_live records the cycle's pauses under cmc (start/remark/flip with
    concurrent marking) and the docs' flip table is built from them."""
    from gcheap.bench import docs
    out = tmp_path / "cmc-pause"
    rc = bench(tmp_path, "half_live", "--collector", "stw,cmc", "--heap", "16M", "--repeat", "1", "--out", str(out))
    assert rc == 0, capsys.readouterr().err
    doc = results.load(out / "results.json")
    runs = {r["config"]: r for r in doc["runs"]}
    assert {c: r["status"] for c, r in runs.items()} == {"stw": "ok", "cmc": "ok"}, runs
    cmc = runs["cmc"]["extra"]
    assert cmc["marking"] == "concurrent"
    assert 0 < cmc["flip_s"] <= cmc["longest_pause_s"] < runs["stw"]["extra"]["first_pause_s"]
    assert cmc["mark_s"] > 0 and cmc["compaction_s"] > 0
    table = "\n".join(docs.flip_section(doc))
    assert "| 16M |" in table and "cmc longest pause ms" in table
