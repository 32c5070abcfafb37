# expect: compile-error 4:4 nonlocal
x = 1
def f():
    nonlocal x
