# generators: yield, send, return, generator expressions, yield from, laziness
def count_up(n):
    i = 0
    while i < n:
        yield i
        i += 1
    return "done"


print(list(count_up(4)), sum(count_up(10)))
g = count_up(2)
print(next(g), next(g))
try:
    next(g)
except StopIteration as e:
    print("stopped", e.value)


def echo():
    received = None
    while True:
        received = yield received
        if received == "stop":
            return


e = echo()
print(next(e), e.send(1), e.send("two"))
try:
    e.send("stop")
except StopIteration:
    print("echo finished")


def fib():
    a, b = 0, 1
    while True:
        yield a
        a, b = b, a + b


out = []
for v in fib():
    if v > 100:
        break
    out.append(v)
print(out)
squares = (x * x for x in range(6) if x % 2 == 0)
print(type(squares).__name__, list(squares), list(squares))
print(max(len(w) for w in ["a", "abc", "ab"]), tuple(c.upper() for c in "hey"))


def tree(n):
    if n:
        yield from tree(n - 1)
        yield n
        yield from tree(n - 1)


print(list(tree(3)))


def pairs(xs):
    for i, x in enumerate(xs):
        for y in xs[i + 1:]:
            yield x, y


print(list(pairs([1, 2, 3, 4])))


def with_finally():
    try:
        yield 1
        yield 2
    finally:
        print("cleanup")


print(list(with_finally()))


def gen_raises():
    yield 1
    raise ValueError("inside generator")


try:
    for v in gen_raises():
        print("got", v)
except ValueError as err:
    print("caught", err)
lazy = map(lambda x: x * 10, count_up(3))
print(list(lazy), list(zip(count_up(3), "abc")), list(enumerate(count_up(3), 1)))
nested = ((i, j) for i in range(3) for j in range(i))
print(list(nested))
it = iter([1, 2, 3])
print(next(it), list(it), next(it, None))


def thrower():
    try:
        yield 1
    except KeyError as e:
        yield "handled %s" % e


t = thrower()
print(next(t), t.throw(KeyError("k")))
