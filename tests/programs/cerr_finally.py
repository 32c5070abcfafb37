# expect: compile-error 2:0 finally
try:
    pass
except ValueError:
    pass
finally:
    pass
