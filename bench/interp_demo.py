"""`make demo`, interpreter part: one example program under stw and under cmc, with
their pause summaries side by side (the program's output is checked identical).

    python bench/interp_demo.py [PROGRAM ARGS...]   (default: examples/gcbench.py 1, GCBench at half depth)
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
GCHEAP = [sys.executable, "-c", "import sys; from gcheap.cli import main; sys.exit(main())", "run"]
CONFIGS = [("stw", ["--collector", "stw"]),
           ("cmc sigbus", ["--collector", "cmc", "--fault-mode", "sigbus"]),
           ("cmc thread", ["--collector", "cmc", "--fault-mode", "thread"])]
HEAP = "16M"


def main(argv: list[str]) -> int:
    program = argv[0] if argv else str(ROOT / "examples" / "gcbench.py")
    args = argv[1:] if argv else ["1"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    results, outputs = [], []
    with tempfile.TemporaryDirectory() as d:
        for name, opts in CONFIGS:
            js = os.path.join(d, name.replace(" ", "_") + ".json")
            r = subprocess.run([*GCHEAP, *opts, "--heap", HEAP, "--stats-json", js, program, "--", *args],
                               capture_output=True, text=True, env=env)
            if r.returncode != 0:
                print(f"{name}: exit {r.returncode}\n{r.stderr}", file=sys.stderr)
                return 1
            outputs.append([ln for ln in r.stdout.splitlines() if not ln.startswith(("#time", "#heap"))])
            with open(js) as f:
                results.append((name, json.load(f), r.stderr.strip()))
    same = all(o == outputs[0] for o in outputs)
    print(f"{pathlib.Path(program).name} {' '.join(args)} in a {HEAP} heap; output identical across "
          f"collectors: {'yes' if same else 'NO'}")
    rows = [("pauses", lambda s: str(s["pauses"]["count"])),
            ("p50 ms", lambda s: f"{s['pauses']['p50_ms']:.3f}"),
            ("p90 ms", lambda s: f"{s['pauses']['p90_ms']:.3f}"),
            ("p99 ms", lambda s: f"{s['pauses']['p99_ms']:.3f}"),
            ("max ms", lambda s: f"{s['pauses']['max_ms']:.3f}"),
            ("total ms", lambda s: f"{s['pauses']['total_ms']:.3f}"),
            ("pages gc/mutator", lambda s: "in pause" if not s["pauses"]["cmc_pages"] else
             f"{s['pauses']['cmc_pages']['pages_by_gc']}/{s['pauses']['cmc_pages']['pages_by_mutator']}"),
            ("wall s", lambda s: f"{s['wall_s']:.3f}")]
    width = 22
    print(f"{'':<18}" + "".join(f"{name:>{width}}" for name, _, _ in results))
    for label, fn in rows:
        print(f"{label:<18}" + "".join(f"{fn(s):>{width}}" for _, s, _ in results))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
