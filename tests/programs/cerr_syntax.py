# expect: compile-error 2:7 syntax error
def f(:
    pass
