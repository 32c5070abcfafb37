"""The timeline (gcheap.runtime.timeline) and its Chrome trace-event export."""
from __future__ import annotations

import json
import pathlib

import pytest

import gcheap
from gcheap.runtime import timeline
from gcheap.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[2]


def check_trace_shape(d: dict) -> dict:
    """Asserts the Chrome trace-event JSON object shape Perfetto reads; returns
    the events grouped by category."""
    assert set(d) >= {"traceEvents", "displayTimeUnit", "otherData"}
    groups: dict = {}
    for e in d["traceEvents"]:
        assert e["ph"] in ("X", "C", "M") and isinstance(e["pid"], int) and isinstance(e["name"], str)
        if e["ph"] == "X":
            assert isinstance(e["tid"], int) and e["dur"] >= 0 and e["ts"] >= 0
        if e["ph"] == "C":
            assert all(isinstance(v, (int, float)) for v in e["args"].values())
        groups.setdefault(e.get("cat", e["ph"]), []).append(e)
    for p in groups.get("pause", []):        # phases lie inside their pause, on its track
        inner = [q for q in groups.get("phase", []) if p["ts"] <= q["ts"] < p["ts"] + p["dur"]]
        assert all(q["ts"] + q["dur"] <= p["ts"] + p["dur"] + 0.002 for q in inner)
        assert all(q["tid"] == p["tid"] for q in inner)
    return groups


def test_normalize_pause_is_tolerant_of_new_fields():
    p = {"seq": 3, "collector": 1, "cause": 1, "start_ns": 10, "pause_ns": 5,
         "phase_ns": [1, 0, 2, 0, 0, 0, 1, 0, 0], "kind": "remark", "mark_threads": 2}
    n = timeline.normalize_pause(p)
    assert n["kind"] == "remark" and n["collector"] == "cmc" and n["cause"] == "allocation"
    assert n["phases"] == {"safepoint": 1, "mark": 2, "flip": 1}
    assert n["extra"] == {"mark_threads": 2}
    del p["kind"]
    assert timeline.normalize_pause(p)["kind"] == "cmc"


def test_trace_without_recorder_has_every_pause(tmp_path):
    with gcheap.Runtime("8M", collector="stw") as rt:
        for _ in range(3):
            rt.new_array("u8", 1000)
            rt.gc()
        rt.trace(tmp_path / "t.json")
    groups = check_trace_shape(json.loads((tmp_path / "t.json").read_text()))
    assert len(groups["pause"]) == 3 and {e["name"] for e in groups["pause"]} == {"full"}
    assert {"mark", "compact"} <= {e["name"] for e in groups["phase"]}


@pytest.mark.uffd
def test_recorder_sees_cmc_cycles_rss_and_allocation(tmp_path):
    with gcheap.Runtime("8M", collector="cmc") as rt:
        rec = timeline.Recorder(rt, poll_s=0.001, sample_s=0.002).start()
        keep = rt.new_array("ref", 64)
        for i in range(3000):                    # allocation-triggered cycles
            a = rt.new_array("u8", 8000)
            if i % 50 == 0:
                keep[i // 50 % 64] = a
        rec.note_report(rt.gc())
        rec.stop()
        tl = timeline.timeline(rt)
        rt_cycles = rt.cycles()
        rt.trace(tmp_path / "t.json")
    assert len(tl["pauses"]) >= 2
    # every cycle of the C log is on the timeline; each has its pauses there
    assert len(tl["cycles"]) == len(rt_cycles) >= 2
    assert sum(len(c["pause_seq"]) for c in rt_cycles) == len(tl["pauses"])
    assert tl["unobserved_cycles"] <= len(tl["cycles"])
    assert tl["samples"]["allocated_bytes"][-1] >= 3000 * 8000
    assert max(tl["samples"]["rss_bytes"]) > 8 << 20
    groups = check_trace_shape(json.loads((tmp_path / "t.json").read_text()))
    assert len(groups["gc"]) == sum(len(c["phases"]) for c in tl["cycles"])
    assert {e["name"] for e in groups["gc"]} <= {"concurrent mark", "prepare", "concurrent compaction"}
    assert {e["name"] for e in groups["C"]} == {"rss", "allocated"}
    # marking runs up to the last remark (the catch-up pause before it included),
    # prepare from it to the flip
    for c in tl["cycles"]:
        names = [name for name, _, _ in c["phases"]]
        if c["marking"] == "concurrent":
            k = names.index("prepare")
            assert k > 0 and set(names[:k]) == {"concurrent mark"}, names
            assert set(names[k:]) <= {"prepare", "concurrent compaction"}, names


def test_gcheap_run_trace(tmp_path, capfd):
    out = tmp_path / "run.json"
    rc = main(["run", "--heap", "8M", "--trace", str(out), str(ROOT / "examples" / "binarytrees.py"), "--", "8"])
    assert rc == 0
    d = json.loads(out.read_text())
    groups = check_trace_shape(d)
    assert d["otherData"]["collector"] == gcheap.Runtime("4M").collector and groups["C"]   # the default
    assert "check" in capfd.readouterr().out


def test_gcheap_run_trace_unwritable(tmp_path, capsys):
    rc = main(["run", "--trace", str(tmp_path / "no" / "such" / "dir.json"),
               str(ROOT / "examples" / "binarytrees.py"), "--", "4"])
    assert rc == 1 and "No such file" in capsys.readouterr().err
