# expect: compile-error 5:1 decorator
def d(f):
    return f
@d
def g():
    pass
