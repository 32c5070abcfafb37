# int/float mixing in + - * / (the VM's fast paths) and int true division
# rounded as CPython rounds it (ints beyond 2**53 included)
vals = [0, 1, -1, 3, 7, 2**53, 2**53 + 1, -2**53 - 1, 2**61 + 12345, 0.5, -0.0, 1e308,
        float("inf"), float("nan"), 3.3, True]
for a in vals:
    for b in vals:
        out = []
        for f in (lambda x, y: x + y, lambda x, y: x - y, lambda x, y: x * y, lambda x, y: x / y):
            try:
                r = f(a, b)
                if type(r) is int and not -2**62 * 2 <= r <= 2**62 - 1 + 2**62:
                    r = "overflow"   # beyond 64 bits: gcheap raises OverflowError
                out.append(repr(r))
            except ZeroDivisionError as e:
                out.append("ZeroDivisionError: " + str(e))
            except OverflowError:
                out.append("'overflow'")
        print(repr(a), repr(b), " ".join(out))
x = 1
for i in range(60):
    x = x * 2 + 1
    print(x / 3, -x / 7, x / (x - 2), 10 / x, x / 2**i if i < 62 else 0)
