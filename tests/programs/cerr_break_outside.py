# expect: compile-error 4:9 syntax error: 'break' outside loop
def f():
    if True:
        break
