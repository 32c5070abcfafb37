"""Message window (a pause benchmark), in the gcheap Python subset.

Usage: message_window.py [MESSAGES] [--units]   (default 1000000; the window is MESSAGES // 5)
Inserts MESSAGES messages of 1 KiB each (a list of 128 one-word ints) into a dict
keyed by id and deletes id - WINDOW at each step, so WINDOW messages stay live.
Reports the largest time between two loop iterations (#time: it depends on time).
"""
import sys
import time


class Units:
    """Units of work for `gcheap bench` (latency): with --units as the last
    argument, each unit's start and end (time.perf_counter()) are printed at
    exit as "#time unit START END"; without it nothing is recorded."""
    __slots__ = ("on", "args", "starts", "ends")

    def __init__(self, argv):
        self.args = argv[1:len(argv)]
        self.on = len(self.args) > 0 and self.args[len(self.args) - 1] == "--units"
        if self.on:
            self.args = self.args[0:len(self.args) - 1]
        self.starts = []
        self.ends = []

    def start(self):
        if self.on:
            self.starts.append(time.perf_counter())

    def end(self):
        if self.on:
            self.ends.append(time.perf_counter())

    def report(self):
        if self.on:
            for i in range(len(self.ends)):
                print(f"#time unit {self.starts[i]:.9f} {self.ends[i]:.9f}")


UNITS = Units(sys.argv)

SLOTS = 128  # 128 words of 8 bytes: 1 KiB of payload per message


def make_message(n):
    return [n & 255] * SLOTS


def main(messages):
    window = messages // 5
    store = {}
    worst = 0.0
    last = time.perf_counter()
    for i in range(messages):
        if i % 100 == 0:
            UNITS.start()  # a unit of work: 100 messages
        store[i] = make_message(i)
        if i >= window:
            del store[i - window]
        now = time.perf_counter()
        if now - last > worst:
            worst = now - last
        last = now
        if i % 100 == 99 or i == messages - 1:
            UNITS.end()
    checksum = 0
    for k in store:
        checksum += store[k][0] + k
    print("messages " + str(messages) + " window " + str(window) + " live " + str(len(store)))
    print("checksum " + str(checksum))
    print(f"#time worst gap {worst * 1000.0:.3f} ms")
    UNITS.report()


if __name__ == "__main__":
    messages = 1000000
    if len(UNITS.args) > 0:
        messages = int(UNITS.args[0])
    if messages < 1:
        raise ValueError("MESSAGES must be positive")
    main(messages)
