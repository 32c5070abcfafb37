# expect: compile-error 2:0 *args
def f(*args):
    return args
