# expect: compile-error 4:5 nonlocal
x = 1
def f():
    nonlocal x
