# expect: compile-error 2:1 *args
def f(*args):
    return args
