# expect: compile-error 4:8 MyError
try:
    pass
except MyError:
    pass
