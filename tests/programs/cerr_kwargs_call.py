# expect: compile-error 4:7 keyword argument
def f(a, b):
    return a
print(f(1, b=2))
