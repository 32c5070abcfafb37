"""Build a fragmented heap, collect it with the stop-the-world compactor, print the report.

    .venv/bin/python examples/stw_demo.py [heap_size]
"""
import random
import sys

import gcheap


def main(heap_size: str = "64M") -> None:
    with gcheap.Runtime(heap_size=heap_size, collector="stw") as rt:
        Node = rt.define_class("Node", refs=["next", "payload"], scalars=["id", ("score", "f64")])
        rnd = random.Random(42)
        cap = rt.heap_info()["capacity"]
        head = None
        kept = 0
        # Fill ~80% of the heap; keep every other node (with its payload), drop the rest.
        while rt.heap_info()["used"] < 0.8 * cap - (64 << 10):
            n = rt.new(Node, id=kept, score=rnd.random())
            n.payload = rt.new_array("u8", rnd.randint(16, 512))
            if rnd.random() < 0.5:
                n.next = head
                head = n
                kept += 1
        rt.globals["list"] = head
        del head, n
        before = rt.heap_info()
        print(f"heap {cap >> 20} MiB at {before['address']:#x}: used {before['used'] / 2**20:.1f} MiB, "
              f"{kept} of the nodes live (every other one, each with a payload array)")
        rt.verify()
        report = rt.gc()
        rt.verify()
        after = rt.heap_info()
        print(report)
        print(f"pause {report.pause_s * 1e3:.2f} ms:")
        for phase, s in report.phases.items():
            print(f"  {phase:<22} {s * 1e3:8.3f} ms")
        print(f"used {before['used'] / 2**20:.1f} MiB -> {after['used'] / 2**20:.1f} MiB "
              f"(live {report.live_bytes / 2**20:.1f} MiB, moved {report.moved_bytes / 2**20:.1f} MiB); "
              f"heap RSS {report.rss_before / 2**20:.1f} -> {report.rss_after / 2**20:.1f} MiB")
        # the list survived the move
        n, count = rt.globals["list"], 0
        while n is not None:
            count += 1
            n = n.next
        assert count == kept, (count, kept)
        print(f"list intact: {count} nodes; verify() passed before and after")


if __name__ == "__main__":
    main(*sys.argv[1:2])
