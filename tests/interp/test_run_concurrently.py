"""Programs are root providers of their own (csrc/interp/vm.c): two can run on
one runtime at once, neither touches the runtime's global roots, and close()
refuses with RuntimeBusy while one runs instead of pulling the heap from under it."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

import gcheap
from gcheap.interp.run import run_file

LOOP = """
import sys
n = int(sys.argv[1])
acc = []
for i in range(n):
    acc.append([i, str(i), (i, i)])
    if len(acc) > 2000:
        acc = []
print(len(acc), n)
"""


# About 45 MB allocated in all, in a 32 MiB heap: several collections. (In a 64 MiB
# heap cmc's pacer could give the rest of the run room after one cycle: when its
# marking was slow on two cores, the allocation rate it saw called for that.)
N0, N1 = 150_000, 100_000


def run_in_thread(path, argv, rt, out_path, results):
    with open(out_path, "w") as out:
        results.append(run_file(str(path), argv, runtime=rt, stdout_fd=out.fileno()))


def run_collecting_throughout(path, argv, rt, out_path) -> tuple[list, int]:
    """Runs the program in a thread while this one requests collections back to
    back until it ends: (its results, the collections requested)."""
    results: list = []
    t = threading.Thread(target=run_in_thread, args=(path, argv, rt, out_path, results))
    t.start()
    collections = 0
    while t.is_alive():
        rt.gc()
        collections += 1
    t.join()
    return results, collections


@pytest.mark.parametrize("collector", ["stw", pytest.param("cmc", marks=pytest.mark.uffd)])
def test_two_programs_at_once_on_one_runtime(tmp_path, collector):
    prog = tmp_path / "loop.py"
    prog.write_text(LOOP)
    with gcheap.Runtime(heap_size="32M", collector=collector, verify=True) as rt:
        # the embedding program's global roots, far above the old 1024 limit
        Node = rt.define_class("Node", scalars=["v"])
        for g in (0, 1023, 1024, 5000, 60000):
            rt.globals[f"g{g}"] = rt.new(Node, v=g)
        results: list = []
        threads = [threading.Thread(target=run_in_thread, args=(prog, [str(n)], rt, tmp_path / f"out{k}", results))
                   for k, n in enumerate((N0, N1))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert [r.status for r in results] == ["ok", "ok"]
        assert (tmp_path / "out0").read_text() == f"{N0 % 2001} {N0}\n"
        assert (tmp_path / "out1").read_text() == f"{N1 % 2001} {N1}\n"
        # several collections ran while the programs did (the last paced cmc cycle
        # may still be compacting when both end: stats() counts completed ones)
        assert rt.stats()["collections"] >= 2, rt.stats()
        for g in (0, 1023, 1024, 5000, 60000):
            assert rt.globals[f"g{g}"].v == g
        rt.verify()


# A program that defines a class while another program starts on the same runtime.
# The runtime classes (layouts) a runtime has are shared by its programs; which ones a
# program has taken was kept per runtime and cleared by the next program to start:
# the first program's class Q could then be given the runtime class of its class P
# (same shape), and P's instances became Q's; or, when the second program started
# while the first was still defining its built-in layouts, two of its built-in kinds
# could get one runtime class (found as "list indices must be integers or slices, not
# builtin_function_or_method" in the test above, about 1 run in 10).
CLASS_LATE = """
import sys
class P:
    def __init__(self):
        self.a = 1
n = int(sys.argv[1])
t = 0
for i in range(n):
    t += i
class Q:
    def __init__(self):
        self.a = 2
print([1, 2], len([3]), Q().a, P().a, type(P()).__name__, type(Q()).__name__, type([]).__name__,
      t == n * (n - 1) // 2)
"""


@pytest.mark.parametrize("collector", ["stw", pytest.param("cmc", marks=pytest.mark.uffd)])
def test_a_class_defined_while_another_program_starts(tmp_path, collector):
    late = tmp_path / "late.py"
    late.write_text(CLASS_LATE)
    other = tmp_path / "other.py"
    other.write_text("print([1])\n")
    with gcheap.Runtime(heap_size="32M", collector=collector) as rt:
        for round_ in range(3):
            results: list = []
            a = threading.Thread(target=run_in_thread, args=(late, ["300000"], rt, tmp_path / "a", results))
            start = rt.stats()["objects_allocated"]
            a.start()
            while a.is_alive() and rt.stats()["objects_allocated"] < start + 2000:
                time.sleep(0.0005)       # the first program is in its loop
            for k in range(3):           # others start (and end) meanwhile
                run_in_thread(other, [], rt, tmp_path / f"b{k}", results)
            a.join(120)
            assert a.is_alive() is False
            assert [r.status for r in results] == ["ok"] * 4, [r.message for r in results]
            assert (tmp_path / "a").read_text() == "[1, 2] 1 2 1 P Q list True\n", round_
            for k in range(3):
                assert (tmp_path / f"b{k}").read_text() == "[1]\n"
        rt.verify()


@pytest.mark.stress
@pytest.mark.parametrize("collector", ["stw", pytest.param("cmc", marks=pytest.mark.uffd)])
def test_programs_at_once_many_rounds(tmp_path, collector):
    """The bug above came and went with timing: 40 rounds of three programs starting
    together on one runtime (fresh files, so each also compiles), every output and
    the heap checked after each round. GCHEAP_STRESS=1."""
    with gcheap.Runtime(heap_size="32M", collector=collector, verify=True) as rt:
        for round_ in range(40):
            progs = []
            for k in range(3):
                p = tmp_path / f"r{round_}_{k}.py"
                p.write_text(LOOP if k < 2 else CLASS_LATE)
                progs.append(p)
            results: list = []
            argv = [["30000"], ["20000"], ["20000"]]
            threads = [threading.Thread(target=run_in_thread, args=(progs[k], argv[k], rt, tmp_path / f"o{k}", results))
                       for k in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert [r.status for r in results] == ["ok"] * 3, (round_, [r.message for r in results])
            assert (tmp_path / "o0").read_text() == f"{30000 % 2001} 30000\n", round_
            assert (tmp_path / "o1").read_text() == f"{20000 % 2001} 20000\n", round_
            assert (tmp_path / "o2").read_text() == "[1, 2] 1 2 1 P Q list True\n", round_
            rt.verify()


def test_close_while_a_program_runs_raises_runtime_busy(tmp_path):
    prog = tmp_path / "loop.py"
    prog.write_text(LOOP)
    rt = gcheap.Runtime(heap_size="32M")
    results: list = []
    t = threading.Thread(target=run_in_thread, args=(prog, ["400000"], rt, os.devnull, results))
    t.start()
    try:
        while t.is_alive() and rt.stats()["objects_allocated"] < 1000:
            pass                 # the program is running once it allocates
        refused = 0
        while t.is_alive() and refused < 50:
            try:
                rt.close()
            except gcheap.RuntimeBusy:
                refused += 1
                time.sleep(0.001)
                continue
            break                # run_file returned between two tries
        assert refused > 0, "the program ended before close() was tried"
        if refused == 50:
            rt.verify()          # still open and whole after the refusals
        t.join(120)
        assert results and results[0].status == "ok", results
    finally:
        t.join(120)
        rt.close()
    assert rt.closed


# A dict grown to 87382 keys: its last resize fills a 2 MiB index and rehashes tens
# of thousands of entries, polling for safepoints as they go (csrc/interp/object.c,
# dict_resize; a list's growth, extend and tuple(list) through vm_copy_refs_polling,
# list.insert and list.pop through vm_shift_list_polling, and a repeat, ops.c), so that a pause requested
# meanwhile need not wait for the whole of it (on this VM the
# fresh pages of a 4 MiB index once kept a start pause waiting 99 ms). Collections
# requested from another thread all through the run land inside those loops too; the
# objects move under them, and the dict must come out whole.
BIG_DICT = """
import sys
n = int(sys.argv[1])
d = {}
l = []
for i in range(n):
    d[i] = [i, i + 1]
    l.append(d[i])
    if i % 3 == 0:
        d[str(i)] = i
r = [1] * n
q = [1, -1] * (n // 2)
tl = tuple(l)
ex = [0]
ex.extend(tl)
s = list(l)
s.insert(0, [-1, 0])
s.insert(n // 2, [-2, 0])
a = s.pop(0)
b = s.pop(n // 2 - 1)
t = 0
for i in range(n):
    t += d[i][1] - d[i][0] + l[i][0] - i + r[i] - 1 + q[i] - (1 if i % 2 == 0 else -1)
    t += tl[i][0] - ex[i + 1][0] + s[i][0] - i
    if i % 3 == 0:
        t += d[str(i)] - i
print(len(d), len(l), len(r) + len(q), len(tl) + len(ex), t, len(s), a[0] + b[0])
"""


@pytest.mark.parametrize("collector", ["stw", pytest.param("cmc", marks=pytest.mark.uffd)])
def test_large_dict_resizes_with_collections_requested_throughout(tmp_path, collector):
    prog = tmp_path / "bigdict.py"
    prog.write_text(BIG_DICT)
    # under make tsan (10-20x slower) a smaller dict: its resizes still poll many times
    n = 1 << 12 if os.environ.get("GCHEAP_TSAN") == "1" else 1 << 16
    with gcheap.Runtime(heap_size="128M", collector=collector) as rt:
        results, collections = run_collecting_throughout(prog, [str(n)], rt, tmp_path / "out")
        assert [r.status for r in results] == ["ok"]
        assert (tmp_path / "out").read_text() == f"{n + (n + 2) // 3} {n} {2 * n} {2 * n + 1} {n} {n} -3\n"
        assert collections >= 2 and rt.stats()["collections"] >= 2
        rt.verify()


# String and sequence bulk copies that poll (vm_copy_str_polling, the doubling
# repeat, join's byte count, list/tuple concatenation) and searches that poll
# (vm_find_str_polling: needles across its window boundaries): sizes below, at and above
# the 256 KiB step, odd lengths and multi-byte text, compared with CPython's output
# for the same program while another thread requests collections throughout.
BIG_STR = """
import sys
n = int(sys.argv[1])
parts = []
for i in range(n):
    parts.append("é%d-" % i)
a = "".join(parts)
b = ", ".join(parts[:n // 2])
big = a * 3
c = a + b
d = big[7:len(big) - 11] + "λ"
e = "ab" * (n * 5) + "x" * 3 + "xyz" * 100003
f = c[len(a) - 5:] * 2
g = "|".join([a, b, "", d[:10]])
l2 = parts + parts
t2 = tuple(parts) + tuple(parts[:3])
h = 0
for s in (a, b, big, c, d, e, f, g):
    h = (h * 1000003 + len(s)) % 1000000007
    for k in range(0, len(s), len(s) // 40 + 1):
        h = (h * 31 + ord(s[k])) % 1000000007
print(h, len(l2), l2[n] == parts[0], len(t2), t2[-1], c.count("é"), e.count("ab"), d[-3:])
W = 262144                      # find, count and `in` search a window of this many bytes at a time
base = "a" * (3 * W + 100)
found = []
for m in (1, 7, 100, W + 10):
    needle = "b" * (m - 1) + "c"
    for pos in (0, W - m + 1, W - 1, W, 2 * W + 3, 3 * W + 100 - m):
        if pos < 0 or pos + m > len(base):
            continue
        s = base[:pos] + needle + base[pos + m:]
        found.append((s.find(needle), s.count(needle), needle in s, s.find(needle, pos + 1), s.find("ab")))
u = "é" * W + "xy" + "é" * 10
print(found, u.find("xy"), u.count("é"), "xy" in u, u.find("éx"), u.index("yé"), a.count("-"))
"""


@pytest.mark.parametrize("collector", ["stw", pytest.param("cmc", marks=pytest.mark.uffd)])
def test_huge_string_copies_with_collections_requested_throughout(tmp_path, collector):
    prog = tmp_path / "bigstr.py"
    prog.write_text(BIG_STR)
    n = 1 << 12 if os.environ.get("GCHEAP_TSAN") == "1" else 1 << 17
    want = subprocess.run([sys.executable, str(prog), str(n)], capture_output=True, text=True, check=True).stdout
    with gcheap.Runtime(heap_size="256M", collector=collector) as rt:
        results, collections = run_collecting_throughout(prog, [str(n)], rt, tmp_path / "out")
        assert [r.status for r in results] == ["ok"]
        assert (tmp_path / "out").read_text() == want
        assert collections >= 2
        rt.verify()
