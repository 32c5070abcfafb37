"""Raw costs of the kernel primitives on this machine: `make bench`.

Prints a table and writes bench/results/raw_costs.json. The timing loops are C
(csrc/bench_raw.c); see gcheap.kernel.rawcost. GCHEAP_BENCH_SCALE=0.25 shrinks sizes.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from gcheap.kernel import rawcost


def main() -> int:
    scale = float(os.environ.get("GCHEAP_BENCH_SCALE", "1"))
    report = rawcost.measure(scale=scale)
    print(rawcost.table(report))
    out = Path(__file__).resolve().parent / "results" / "raw_costs.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
