# expect: compile-error 4:7 MyError
try:
    pass
except MyError:
    pass
