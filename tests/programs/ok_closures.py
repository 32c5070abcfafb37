# closures, nonlocal, global, lambda, decorators, nested functions
def make_counter(start=0):
    count = start

    def inc(step=1):
        nonlocal count
        count += step
        return count

    def get():
        return count

    return inc, get


inc, get = make_counter(10)
inc()
inc(5)
print(get(), inc(), make_counter()[0]())

adders = [lambda x, k=k: x + k for k in range(3)]
print([f(10) for f in adders])
late = [lambda x: x + k for k in range(3)]
print([f(10) for f in late])

total = 0


def add_global(n):
    global total
    total += n
    return total


add_global(3)
add_global(4)
print(total)


def outer():
    x = 1

    def middle():
        def inner():
            return x * 100
        return inner()

    x = 2
    return middle()


print(outer())


def memo(fn):
    cache = {}

    def wrapper(*args):
        if args not in cache:
            cache[args] = fn(*args)
        return cache[args]

    wrapper.__wrapped_name = None if False else 1
    return wrapper


def trace(prefix):
    def deco(fn):
        def wrapped(*args, **kwargs):
            print(prefix, fn.__name__, args, sorted(kwargs.items()))
            return fn(*args, **kwargs)
        return wrapped
    return deco


@trace(">>")
def greet(name, greeting="hello"):
    return "%s, %s" % (greeting, name)


print(greet("ann"), greet("bob", greeting="hi"))


def fib_memo():
    cache = {}

    def fib(n):
        if n < 2:
            return n
        if n not in cache:
            cache[n] = fib(n - 1) + fib(n - 2)
        return cache[n]

    return fib


print(fib_memo()(80))
compose = lambda f, g: lambda x: f(g(x))
print(compose(lambda x: x * 2, lambda x: x + 3)(4))
print(sorted(["banana", "Apple", "cherry"], key=lambda s: s.lower()))
print((lambda *a, **k: (a, k))(1, 2, z=3))


def gen_closure():
    fns = []
    for i in range(3):
        def f(i=i):
            return i * i
        fns.append(f)
    return [f() for f in fns]


print(gen_closure())


class Widget:
    registry = []

    def __init__(self, n):
        self.n = n
        Widget.registry.append(self)

    def scaler(self, k):
        return lambda: self.n * k


w = Widget(7)
print(w.scaler(3)(), len(Widget.registry))
x = 5


def shadow():
    x = 1
    return [x for x in range(3)], x


print(shadow(), x)
