# exceptions: user classes, hierarchy, finally, else, raise from, re-raise, args
class AppError(Exception):
    pass


class NotFound(AppError):
    def __init__(self, key, where="db"):
        super().__init__("missing %s" % key)
        self.key = key
        self.where = where


class Plain(Exception):
    def __init__(self, code):
        self.code = code


def lookup(d, k):
    if k not in d:
        raise NotFound(k)
    return d[k]


try:
    lookup({}, "x")
except AppError as e:
    print(type(e).__name__, e, e.key, e.where, e.args, isinstance(e, Exception))
try:
    raise Plain(42)
except Plain as e:
    print(repr(e), e.code, e.args)
print(repr(ValueError("a", 1)), str(KeyError("k")), repr(KeyError("k")), str(Exception()))


def order():
    log = []
    try:
        log.append("try")
        raise RuntimeError("boom")
    except RuntimeError:
        log.append("except")
    else:
        log.append("else")
    finally:
        log.append("finally")
    try:
        log.append("try2")
    except RuntimeError:
        log.append("no")
    else:
        log.append("else2")
    finally:
        log.append("finally2")
    return log


print(order())


def finally_return():
    try:
        return "from try"
    finally:
        print("finally runs before return")


print(finally_return())


def loop_finally():
    out = []
    for i in range(4):
        try:
            if i == 1:
                continue
            if i == 3:
                break
            out.append(i)
        finally:
            out.append("f%d" % i)
    return out


print(loop_finally())
try:
    try:
        raise ValueError("inner")
    except ValueError as e:
        raise TypeError("outer") from e
except TypeError as e:
    print("TypeError", e)
try:
    try:
        {}["missing"]
    except KeyError:
        print("handling, then re-raising")
        raise
except LookupError as e:
    print("outer caught", repr(e))
for exc in (ZeroDivisionError, IndexError, KeyError, OverflowError, RecursionError):
    print(exc.__name__, issubclass(exc, ArithmeticError), issubclass(exc, LookupError),
          issubclass(exc, RuntimeError))
try:
    raise StopIteration(5)
except Exception as e:
    print("StopIteration value", e.value)
errors = []
for v in ("1", "x", None, "2.5"):
    try:
        errors.append(int(v))
    except (ValueError, TypeError) as e:
        errors.append(type(e).__name__)
print(errors)
try:
    assert 1 > 2, "math is broken"
except AssertionError as e:
    print("AssertionError:", e)


class Ctx:
    def __enter__(self):
        return self

    def __exit__(self, *info):
        print("exit sees", info[0].__name__ if info[0] else None)
        return False


def with_return():
    with Ctx():
        return "returned"


print(with_return())
