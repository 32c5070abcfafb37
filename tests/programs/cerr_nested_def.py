# expect: compile-error 3:4 nested function
def outer():
    def inner():
        return 1
    return inner()
