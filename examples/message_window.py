"""Message window (a pause benchmark), in the gcheap Python subset.

Usage: message_window.py [MESSAGES]   (default 1000000; the window is MESSAGES // 5)
Inserts MESSAGES messages of 1 KiB each (a list of 128 one-word ints) into a dict
keyed by id and deletes id - WINDOW at each step, so WINDOW messages stay live.
Reports the largest time between two loop iterations (#time: it depends on time).
"""
import sys
import time

SLOTS = 128  # 128 words of 8 bytes: 1 KiB of payload per message


def make_message(n):
    return [n & 255] * SLOTS


def main(messages):
    window = messages // 5
    store = {}
    worst = 0.0
    last = time.perf_counter()
    for i in range(messages):
        store[i] = make_message(i)
        if i >= window:
            del store[i - window]
        now = time.perf_counter()
        if now - last > worst:
            worst = now - last
        last = now
    checksum = 0
    for k in store:
        checksum += store[k][0] + k
    print("messages " + str(messages) + " window " + str(window) + " live " + str(len(store)))
    print("checksum " + str(checksum))
    print(f"#time worst gap {worst * 1000.0:.3f} ms")


if __name__ == "__main__":
    messages = 1000000
    if len(sys.argv) > 1:
        messages = int(sys.argv[1])
    if messages < 1:
        raise ValueError("MESSAGES must be positive")
    main(messages)
