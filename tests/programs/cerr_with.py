# expect: compile-error 2:1 with
with open('f') as fh:
    pass
