# expect: compile-error 2:0 with
with open('f') as fh:
    pass
