"""gcheap.kernel.rawcost runs every raw-cost benchmark (tiny sizes here) and reports
each figure; the benchmark C code fails loudly rather than report nonsense."""
from __future__ import annotations

from tests.support.uffd import require_uffd
from gcheap.kernel import rawcost


def test_measure_reports_every_primitive():
    caps = require_uffd(["sigbus", "move"])
    report = rawcost.measure(scale=0.02)
    assert report["skipped"] == {}
    expected = set(rawcost.LABELS)
    assert set(report["results"]) == expected
    for key, r in report["results"].items():
        assert 0 < r["min"] <= r["median"] <= r["max"], key
    assert report["results"]["fault_roundtrip_sigbus"]["faults"] >= 100
    assert report["machine"]["kernel"] == caps.kernel
    text = rawcost.table(report)
    assert all(label in text for label in rawcost.LABELS.values())
