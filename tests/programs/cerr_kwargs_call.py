# expect: compile-error 4:6 keyword argument
def f(a, b):
    return a
print(f(1, b=2))
