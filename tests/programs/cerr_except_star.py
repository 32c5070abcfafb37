# expect: compile-error 6:1 except*
try:
    pass
except ValueError:
    pass
try:
    pass
except* ValueError:
    pass
