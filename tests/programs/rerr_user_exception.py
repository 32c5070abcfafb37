# expect: runtime-error AppError line 7
class AppError(Exception):
    pass
def work(n):
    if n > 2:
        print("failing at", n)
        raise AppError("n too big: %d" % n)
    return work(n + 1)
work(0)
