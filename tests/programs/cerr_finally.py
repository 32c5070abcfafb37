# expect: compile-error 2:1 finally
try:
    pass
except ValueError:
    pass
finally:
    pass
