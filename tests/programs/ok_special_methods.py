# special methods: comparison, hashing, containers, arithmetic, iteration, calls
class Vec:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __add__(self, o):
        return Vec(self.x + o.x, self.y + o.y)

    def __sub__(self, o):
        return Vec(self.x - o.x, self.y - o.y)

    def __mul__(self, k):
        return Vec(self.x * k, self.y * k)

    def __rmul__(self, k):
        return self * k

    def __neg__(self):
        return Vec(-self.x, -self.y)

    def __abs__(self):
        return (self.x ** 2 + self.y ** 2) ** 0.5

    def __eq__(self, o):
        return isinstance(o, Vec) and self.x == o.x and self.y == o.y

    def __hash__(self):
        return hash((self.x, self.y))

    def __lt__(self, o):
        return (self.x, self.y) < (o.x, o.y)

    def __repr__(self):
        return "Vec(%r, %r)" % (self.x, self.y)

    def __bool__(self):
        return self.x != 0 or self.y != 0

    def __iter__(self):
        yield self.x
        yield self.y


a, b = Vec(1, 2), Vec(3, 4)
print(a + b, a - b, a * 3, 2 * a, -a, abs(b))
print(a == Vec(1, 2), a != b, a < b, b > a, sorted([b, a, Vec(0, 9)]))
print(len({a, Vec(1, 2), b}), {a: "first"}[Vec(1, 2)])
print(bool(Vec(0, 0)), bool(a), list(a), tuple(b), max([a, b]))
x, y = b
print(x, y)
acc = Vec(0, 0)
acc += a
acc += b
print(acc)


class Grid:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.cells = {}

    def __getitem__(self, key):
        x, y = key
        if not (0 <= x < self.w and 0 <= y < self.h):
            raise IndexError("off grid")
        return self.cells.get(key, ".")

    def __setitem__(self, key, v):
        self.cells[key] = v

    def __delitem__(self, key):
        del self.cells[key]

    def __contains__(self, key):
        return key in self.cells

    def __len__(self):
        return len(self.cells)


g = Grid(3, 2)
g[0, 0] = "#"
g[2, 1] = "@"
print(g[0, 0], g[1, 1], (2, 1) in g, (1, 1) in g, len(g))
del g[0, 0]
print(len(g), bool(g))
try:
    g[5, 5]
except IndexError as e:
    print("IndexError", e)


class Seq:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i >= self.n:
            raise IndexError(i)
        return i * i


print(list(Seq(5)), 9 in Seq(5), len(Seq(4)))


class Countdown:
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return self

    def __next__(self):
        if self.n <= 0:
            raise StopIteration
        self.n -= 1
        return self.n


print(list(Countdown(4)), sum(Countdown(5)))
it = iter(Countdown(2))
print(next(it), next(it), next(it, "end"))


class Adder:
    def __init__(self, k):
        self.k = k

    def __call__(self, v):
        return v + self.k


add5 = Adder(5)
print(add5(1), list(map(add5, [1, 2])), callable(add5), callable(5))


class Str:
    def __str__(self):
        return "str-form"

    def __repr__(self):
        return "repr-form"


print(Str(), str(Str()), repr(Str()), [Str()], "%s %r" % (Str(), Str()), f"{Str()} {Str()!r}")


class Money:
    def __init__(self, cents):
        self.cents = cents

    def __format__(self, spec):
        return format(self.cents / 100, spec or ".2f")

    def __int__(self):
        return self.cents // 100

    def __float__(self):
        return self.cents / 100

    def __index__(self):
        return self.cents


m = Money(1234)
print(f"{m}", f"{m:.1f}", format(m, "10.3f"), int(m), float(m), [0, 1, 2][Money(1)], hex(Money(255)))


class NoEq:
    pass


p, q = NoEq(), NoEq()
print(p == p, p == q, p != q, len({p, q, p}))


class EqOnly:
    def __eq__(self, o):
        return True


try:
    hash(EqOnly())
except TypeError as e:
    print("TypeError:", e)


class Ctx:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        print("enter", self.name)
        return self

    def __exit__(self, t, v, tb):
        print("exit", self.name, t.__name__ if t else None, v)
        return t is KeyError


with Ctx("a") as c1, Ctx("b"):
    print("inside", c1.name)
with Ctx("swallow"):
    raise KeyError("k")
try:
    with Ctx("pass-through"):
        raise ValueError("v")
except ValueError as e:
    print("got", e)
