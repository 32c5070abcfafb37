# The messages of built-in runtime errors match CPython.
def show(f):
    try:
        f()
    except Exception as e:
        print(type_name(e), e)
def type_name(e):
    if isinstance(e, ZeroDivisionError):
        return "ZeroDivisionError"
    if isinstance(e, IndexError):
        return "IndexError"
    if isinstance(e, KeyError):
        return "KeyError"
    if isinstance(e, ValueError):
        return "ValueError"
    if isinstance(e, TypeError):
        return "TypeError"
    return "other"
def div0():
    return 1 // 0
def fdiv0():
    return 1.0 / 0
def mod0():
    return 5 % 0
def idx():
    return [1, 2][2]
def stridx():
    return "ab"[5]
def key():
    return {"a": 1}["b"]
def ikey():
    return {}[3]
def popempty():
    return [].pop()
def notfound():
    return [1, 2].index(3)
def badint():
    return int("12a")
for f in [div0, fdiv0, mod0, idx, stridx, key, ikey, popempty, notfound, badint]:
    show(f)
