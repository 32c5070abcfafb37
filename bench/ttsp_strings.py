"""Time to safepoint of the interpreter's string operations over a huge string.

For each operation, a program builds a --mib MiB string and applies the operation
to it in a loop (with some small allocations between) for --seconds, on a cmc
runtime, while a Python thread asks for a collection every --every-ms. A pause
waits for the program's thread to reach a safepoint poll: an operation that runs
whole between polls keeps it waiting as long as the operation takes. Reports,
per operation, the pauses and the longest wait ("safepoint" phase of the pause
log), with the next three.

    python bench/ttsp_strings.py [--mib 50] [--seconds 2.5] [--every-ms 37] [OP ...]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

import gcheap
from gcheap.interp import run_file

OPS = {
    "find": 'big.find("zz")',
    "rfind": 'big.rfind("zz")',
    "split": 'big.split("zz")',
    "rsplit": 'big.rsplit("zz", 1)',
    "replace-none": 'big.replace("zz", "y")',
    "replace-all": 'big.replace("b", "c")',
    "split-ws": "words.split()",
    "rsplit-ws": "words.rsplit(None, 1)",
    "slice": "words[1:]",
}

PROGRAM = """import time
big = "ab" * {half}
words = ("w" * 5000 + " ") * {words}
keep = []
t0 = time.perf_counter()
while time.perf_counter() - t0 < {seconds}:
    x = {op}
    x = None
    keep.append([[j] for j in range(3000)])
    if len(keep) > 40:
        keep = []
"""


def measure(path: str, every_s: float) -> list[float]:
    """The safepoint waits (s) of every pause while the program at path runs."""
    with gcheap.Runtime(collector="cmc", require_concurrent=True) as rt:
        stop = threading.Event()

        def collect() -> None:
            while not stop.wait(every_s):
                rt.gc()

        th = threading.Thread(target=collect)
        th.start()
        try:
            with open(os.devnull, "w") as null:
                run_file(path, runtime=rt, stdout_fd=null.fileno(), check=True)
        finally:
            stop.set()
            th.join()
        return sorted((p.phases.get("safepoint", 0.0) for p in rt.stats()["pauses"]), reverse=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ops", nargs="*", metavar="OP",
                    help=f"operations to measure (default all: {', '.join(OPS)})")
    ap.add_argument("--mib", type=int, default=50, help="size of the strings (default 50)")
    ap.add_argument("--seconds", type=float, default=2.5, help="how long each program loops (default 2.5)")
    ap.add_argument("--every-ms", type=float, default=37.0, help="collection requests (default every 37 ms)")
    a = ap.parse_args()
    if a.mib < 1 or a.seconds <= 0 or a.every_ms <= 0:
        ap.error("--mib, --seconds and --every-ms must be positive")
    unknown = [o for o in a.ops if o not in OPS]
    if unknown:
        ap.error(f"unknown operation(s) {', '.join(unknown)} (choose from {', '.join(OPS)})")
    with tempfile.TemporaryDirectory() as d:
        for name in a.ops or OPS:
            path = os.path.join(d, name + ".py")
            with open(path, "w") as f:
                f.write(PROGRAM.format(half=(a.mib << 20) // 2, words=max(1, (a.mib << 20) // 2 // 5001),
                                       seconds=a.seconds, op=OPS[name]))
            t0 = time.perf_counter()
            waits = measure(path, a.every_ms / 1000)
            print(f"{name:>13}: {len(waits):4} pauses, longest safepoint wait {waits[0] * 1e3:8.3f} ms, "
                  f"next {', '.join(f'{w * 1e3:.2f}' for w in waits[1:4])} ms ({time.perf_counter() - t0:.1f} s)",
                  flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
