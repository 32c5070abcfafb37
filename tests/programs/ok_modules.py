# modules: math, random (CPython's stream), array, bisect, io, time, sys, gc, collections
import math
import random
import sys
import time
import gc
from array import array
from bisect import bisect, bisect_left, insort
from io import StringIO
from math import sqrt, pi as PI
import collections
from collections import defaultdict, deque, namedtuple, Counter

print(math.sqrt(2), math.sin(1), math.cos(1), math.tan(0.5), math.atan2(1, 2), math.exp(1), math.log(10))
print(math.log(8, 2), math.log10(1000), math.log2(1024), math.floor(-2.5), math.ceil(2.1), math.trunc(-2.7))
print(math.fabs(-3), math.pow(2, 0.5), math.hypot(3, 4), math.degrees(math.pi), math.radians(180))
print(math.isnan(float("nan")), math.isinf(math.inf), math.copysign(1, -0.0), math.fmod(7, 3), math.modf(2.5))
print(math.frexp(8.0), math.ldexp(0.5, 4), math.gcd(12, 18), math.factorial(10), math.e, math.tau, PI)
print(math.isclose(1.0, 1.0 + 1e-10), math.fsum([0.1] * 10), sum([0.1] * 10), sqrt(16.0), math.erf(0.5))
for bad in (lambda: math.sqrt(-1), lambda: math.log(0), lambda: math.exp(1000)):
    try:
        bad()
    except (ValueError, OverflowError) as e:
        print(type(e).__name__, e)
random.seed(42)
print(random.random(), random.random(), random.randint(1, 100), random.randrange(10), random.randrange(0, 100, 7))
print(random.choice("abcdef"), random.uniform(1, 2), random.gauss(0, 1), random.normalvariate(5, 2))
items = list(range(10))
random.shuffle(items)
print(items, random.sample(range(100), 5), random.choices("xyz", k=4), random.getrandbits(20))
rng = random.Random(1234)
print(rng.random(), rng.randrange(9223372036854775807), rng.expovariate(2.0), rng.triangular(0, 10))
state = rng.getstate()
first = rng.random()
rng.setstate(state)
print(first == rng.random())
random.seed(0)
print([random.randint(0, 9) for _ in range(10)])
a = array("d", [1.5, 2.5])
a.append(3)
b = array("i", [0]) * 5
b[2] = 7
print(a, b, a[1], len(b), sum(b), list(a), a.tolist(), b[1:4], array("d"), a.typecode, b.itemsize)
c = array("d", [0.0]) * 4
c[1:3] = array("d", [9.0, 8.0])
print(c, c == array("d", [0, 9, 8, 0]), array("i", range(4)) + array("i", [9]))
try:
    b[0] = 2 ** 40
except OverflowError as e:
    print("OverflowError", e)
xs = [1, 3, 5, 7]
print(bisect(xs, 4), bisect_left(xs, 5), bisect(xs, 5))
insort(xs, 4)
print(xs)
buf = StringIO()
buf.write("hello ")
print("world", file=buf)
print(repr(buf.getvalue()))
t = time.perf_counter()
print(type(t).__name__, time.time() > 1e9, type(time.process_time()).__name__)
print(type(sys.argv).__name__, sys.maxsize, sys.platform, sys.version_info[0], sys.getrecursionlimit())
sys.stdout.write("written to stdout\n")
print(gc.isenabled(), type(gc.collect()).__name__)
gc.disable()
print(gc.isenabled())
gc.enable()
dd = defaultdict(list)
dd["a"].append(1)
dd["b"].append(2)
dd["a"].append(3)
print(dict(dd), dd["z"], sorted(dd))
q = deque([1, 2])
q.append(3)
q.appendleft(0)
print(q.popleft(), q.pop(), list(q), len(q))
Point = namedtuple("Point", "x y")
p = Point(1, y=2)
print(p, p.x, p[1], tuple(p), p == Point(1, 2))
cnt = Counter("abracadabra")
print(cnt.most_common(2), cnt["a"], cnt["zz"])
