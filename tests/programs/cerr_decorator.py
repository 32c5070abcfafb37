# expect: compile-error 5:0 decorator
def d(f):
    return f
@d
def g():
    pass
