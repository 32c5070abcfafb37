# expect: compile-error 3:5 nested function
def outer():
    def inner():
        return 1
    return inner()
