# expect: runtime-error TypeError line 3
def f(x):
    return x + "s"
f(1)
