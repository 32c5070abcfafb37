# expect: compile-error 3:5 yield
def gen():
    yield 1
