# __new__, __getattr__, __index__/__float__/__int__/__format__, walrus, with of several items, raise from, generator send
class A:
    def __getattr__(self, name):
        return "dyn:" + name
    def __index__(self):
        return 2
    def __float__(self):
        return 1.5
    def __int__(self):
        return 7
    def __format__(self, spec):
        return "fmt[" + spec + "]"
a = A()
print(a.foo, [1, 2, 3][a], float(a), int(a))
print(f"{a:xy}", format(a, "q"))
class B:
    def __new__(cls, *args):
        o = super().__new__(cls)
        o.made = True
        return o
    def __init__(self, x):
        self.x = x
b = B(3)
print(b.made, b.x)
if (n := len([1, 2])) > 1:
    print("walrus", n)
class CM:
    def __init__(self, n): self.n = n
    def __enter__(self): print("enter", self.n); return self.n
    def __exit__(self, *e): print("exit", self.n); return False
with CM(1) as x, CM(2) as y:
    print(x, y)
try:
    try:
        1 / 0
    except ZeroDivisionError as e:
        raise ValueError("v") from e
except ValueError as e:
    print(type(e.__cause__).__name__)
def g():
    x = yield 1
    print("got", x)
    yield 2
it = g(); print(next(it)); print(it.send(5))
print(sorted({3: 1, 1: 2}.items(), key=lambda kv: -kv[0]))
import math
print(math.fsum([0.1] * 10), math.gamma(5.5), math.erf(0.3))
