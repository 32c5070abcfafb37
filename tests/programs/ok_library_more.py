# dict/list subclasses, generator throw/close running finally, print(file=), array, str.format fields, class decorators, collections, comprehension scopes, numeric built-ins, SystemExit
import sys
from array import array
from collections import defaultdict, deque, namedtuple, OrderedDict, Counter
class D(dict):
    def __missing__(self, k):
        return k * 2
d = D(a=1)
print(d["a"], d[5], isinstance(d, dict), len(d))
class L(list):
    def total(self):
        return sum(self)
l = L([1, 2, 3]); l.append(4)
print(l.total(), l[1:], type(l).__name__, l)
def gen():
    try:
        yield 1
        yield 2
    except ValueError as e:
        print("caught", e)
        yield 99
    finally:
        print("fin")
g = gen(); print(next(g)); print(g.throw(ValueError("x"))); g.close()
print("out", file=sys.stdout)
a = array('d', [1.0, 2.5]); a.append(3); print(a, a[1], len(a), sum(a))
print("{0[1]}-{k.real:>5}".format([7, 8], k=3))
print(sorted(["bb", "a", "ccc"], key=len, reverse=True))
def deco(cls):
    cls.tag = "t"
    return cls
@deco
class C:
    count = 0
    def __init__(self):
        C.count += 1
c1 = C(); c2 = C(); print(C.count, c1.tag)
P = namedtuple("P", "x y")
p = P(1, y=2); print(p, p.x + p.y, p._replace(x=5))
dd = defaultdict(list); dd["a"].append(1); print(dict(dd))
q = deque([1, 2]); q.appendleft(0); q.rotate(1); print(q, q.popleft())
print(Counter("abracadabra").most_common(2))
print([[j for j in range(i)] for i in range(3)])
x = 10
print([x for x in range(3)], x)
print(divmod(-7, 2), pow(2, 10, 1000), round(2.675, 2), round(0.5), hex(255), int("ff", 16))
print(" ".join(map(str, filter(None, [0, 1, 2]))))
print(max([3, 1, 2], key=lambda v: -v), min((), default="e"))
try:
    sys.exit(3)
except SystemExit as e:
    print("exit code", e.code)
