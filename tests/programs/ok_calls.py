# calls: defaults, keywords, *args, **kwargs, keyword-only, unpacking
def f(a, b=2, *args, c, d=4, **kw):
    return (a, b, args, c, d, sorted(kw.items()))


print(f(1, c=3))
print(f(1, 2, 3, 4, c=5, e=6, d=7))
args = (10, 20, 30)
kw = {"c": 1, "z": 9}
print(f(*args, **kw))
print(f(0, *[1, 2], c=3, **{"y": 5}))


def g(x, y):
    return x - y


print(g(y=1, x=10), g(*(5, 3)), g(**{"x": 2, "y": 8}))
for bad in (lambda: g(1), lambda: g(1, 2, 3), lambda: g(1, x=2), lambda: g(1, z=2), lambda: f(1)):
    try:
        bad()
    except TypeError as e:
        print("TypeError:", e)


def kwonly(*, a, b=1):
    return a + b


print(kwonly(a=5), kwonly(b=2, a=3))
try:
    kwonly(1)
except TypeError as e:
    print("TypeError:", e)


def defaults_shared(x, acc=[]):
    acc.append(x)
    return acc


print(defaults_shared(1), defaults_shared(2))
first, *rest = [1, 2, 3, 4]
*init, last = "hello"
a, (b, c), *d = 1, (2, 3), 4, 5
print(first, rest, init, last, a, b, c, d)
print(*[1, 2, 3], sep="-")
print(max(3, 9, 4), min([5, 2, 8], key=lambda v: -v), max([], default="empty"))


class P:
    def __init__(self, *parts, sep=","):
        self.text = sep.join(parts)


print(P("a", "b").text, P("x", "y", sep="+").text)


def recurse(n):
    return 0 if n == 0 else 1 + recurse(n - 1)


print(recurse(500))
