# try/except/raise for built-in exceptions.
def safe_div(a, b):
    try:
        return a // b
    except ZeroDivisionError:
        return None
print(safe_div(7, 2), safe_div(1, 0))
try:
    raise ValueError("bad value")
except ValueError as e:
    print("caught", e)
try:
    [1][5]
except (KeyError, IndexError) as e:
    print("index", e)
try:
    {}["k"]
except KeyError as e:
    print("key", e)
try:
    int("nope")
except ValueError as e:
    print("value", e)
try:
    "a" + 1
except TypeError:
    print("type")
try:
    try:
        raise KeyError("inner")
    except ValueError:
        print("wrong handler")
except KeyError:
    print("outer caught")
def reraise():
    try:
        1 / 0
    except ZeroDivisionError:
        print("handling")
        raise
try:
    reraise()
except ZeroDivisionError as e:
    print("reraised", e)
try:
    raise RuntimeError
except Exception as e:
    print("base class catches", isinstance(e, RuntimeError))
for i in range(3):
    try:
        if i == 1:
            continue
        print("loop", i)
    except ValueError:
        pass
def deep(n):
    if n == 0:
        raise IndexError("bottom")
    return deep(n - 1)
try:
    deep(50)
except IndexError as e:
    print(e)
x = 5
try:
    x = 6
    raise AttributeError("attr")
except AttributeError:
    pass
print(x)
