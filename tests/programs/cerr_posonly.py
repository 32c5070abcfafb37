# expect: compile-error 3:1 positional-only parameter
print(1)
def f(a, /, b):
    return a
