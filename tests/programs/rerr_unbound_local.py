# expect: runtime-error UnboundLocalError line 4
def f():
    print("in f")
    v = v + 1
f()
