# expect: compile-error 3:4 yield
def gen():
    yield 1
