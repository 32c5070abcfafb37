# expect: runtime-error ZeroDivisionError line 3
def gen():
    yield 1 / 0
for v in gen():
    print(v)
