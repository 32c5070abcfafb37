# expect: compile-error 2:6 syntax error
def f(:
    pass
