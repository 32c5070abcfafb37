"""Raw costs of the kernel primitives on this machine, measured now.

``measure()`` runs every micro-benchmark of csrc/bench_raw.c (the timing loops
are C) and returns a dict: per-page costs in microseconds (median over
repetitions, with min and max), fault round trips per fault (median, p99), and
mremap(DONTUNMAP) per GiB. Later benchmarks call it in the same run as their
own measurements, because this machine is shared and noisy: only side-by-side
figures compare.
"""
from __future__ import annotations

import os
import statistics
import time

from gcheap import _lowlevel as ll
from gcheap.kernel import probe
from gcheap.metrics import percentile

GIB = 1 << 30


def _per_page(name: str, pages: int, reps: int, *args: int) -> dict:
    per = [ns / pages / 1000 for ns in ll.bench_samples(name, reps, *args)]
    return {"unit": "us/page", "median": statistics.median(per), "min": min(per), "max": max(per),
            "pages": pages, "reps": reps}


def _per_fault(name: str, faults: int) -> dict:
    us = [ns / 1000 for ns in ll.bench_samples(name, faults, faults)]
    return {"unit": "us/fault", "median": statistics.median(us), "p99": percentile(us, 99),
            "min": min(us), "max": max(us), "faults": faults}


def _per_gib(nbytes: int, misalign: int, reps: int) -> dict:
    per = [ns / 1000 * GIB / nbytes for ns in ll.bench_samples("mremap_dontunmap", reps, nbytes, misalign, reps)]
    return {"unit": "us/GiB", "median": statistics.median(per), "min": min(per), "max": max(per),
            "bytes": nbytes, "misalign": misalign, "reps": reps}


def measure(*, scale: float = 1.0) -> dict:
    """Measures everything once. ``scale`` < 1 shrinks the sizes (for tests)."""
    caps = probe()
    pages = max(64, int(16384 * scale))          # 64 MiB at scale 1
    pages -= pages % 64
    faults = max(100, int(4000 * scale))
    mremap_bytes = max(2 << 20, int(GIB * scale) // (2 << 20) * (2 << 20))
    reps = 7
    results: dict = {}
    skipped: dict = {}

    results["memcpy"] = _per_page("memcpy", pages, reps, pages, reps)
    results["first_touch_fault"] = _per_page("first_touch", pages, reps, pages, reps)
    if caps.uffd_available:
        results["uffdio_copy_1"] = _per_page("uffd_copy", pages, reps, pages, 1, reps)
        results["uffdio_copy_64"] = _per_page("uffd_copy", pages, reps, pages, 64, reps)
        results["uffdio_zeropage"] = _per_page("uffd_zeropage", pages, reps, pages, 1, reps)
        if "move" in caps.features:
            results["uffdio_move_1"] = _per_page("uffd_move", pages, reps, pages, 1, reps)
            results["uffdio_move_64"] = _per_page("uffd_move", pages, reps, pages, 64, reps)
        else:
            skipped["uffdio_move"] = "kernel lacks UFFDIO_MOVE"
        results["fault_roundtrip_thread"] = _per_fault("fault_thread", faults)
        if "sigbus" in caps.features:
            results["fault_roundtrip_sigbus"] = _per_fault("fault_sigbus", faults)
        else:
            skipped["fault_roundtrip_sigbus"] = "kernel lacks UFFD_FEATURE_SIGBUS"
    else:
        skipped["userfaultfd"] = caps.uffd_error or "unavailable"
    if caps.mremap_dontunmap:
        results["mremap_dontunmap_aligned"] = _per_gib(mremap_bytes, 0, 5)
        results["mremap_dontunmap_misaligned"] = _per_gib(mremap_bytes, caps.page_size, 5)
    else:
        skipped["mremap_dontunmap"] = "kernel lacks MREMAP_DONTUNMAP"
    return {
        "machine": {"kernel": caps.kernel, "cpus": os.cpu_count(), "page_size": caps.page_size,
                    "thp": caps.thp, "uffd_via": caps.uffd_via},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scale": scale,
        "results": results,
        "skipped": skipped,
    }


LABELS = {
    "memcpy": "memcpy (populated -> populated)",
    "first_touch_fault": "first-touch write fault",
    "uffdio_copy_1": "UFFDIO_COPY, 1 page/call",
    "uffdio_copy_64": "UFFDIO_COPY, 64 pages/call",
    "uffdio_zeropage": "UFFDIO_ZEROPAGE, 1 page/call",
    "uffdio_move_1": "UFFDIO_MOVE, 1 page/call",
    "uffdio_move_64": "UFFDIO_MOVE, 64 pages/call",
    "fault_roundtrip_thread": "missing fault via handler thread",
    "fault_roundtrip_sigbus": "missing fault via SIGBUS self-service",
    "mremap_dontunmap_aligned": "mremap DONTUNMAP, 2 MiB-aligned dst",
    "mremap_dontunmap_misaligned": "mremap DONTUNMAP, dst misaligned by 4 KiB",
}


def table(report: dict) -> str:
    rows = [("operation", "median", "spread", "unit")]
    for key, r in report["results"].items():
        if "p99" in r:
            spread = f"p99 {r['p99']:.2f}"
        else:
            spread = f"{r['min']:.2f}..{r['max']:.2f}"
        rows.append((LABELS.get(key, key), f"{r['median']:.3f}" if r["median"] < 100 else f"{r['median']:.0f}",
                     spread, r["unit"]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for key, why in report["skipped"].items():
        lines.append(f"skipped {key}: {why}")
    m = report["machine"]
    lines.append(f"kernel {m['kernel']}, {m['cpus']} cpus, page {m['page_size']} B, THP {m['thp']}, "
                 f"{report['when']}")
    return "\n".join(lines)
