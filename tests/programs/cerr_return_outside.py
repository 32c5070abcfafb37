# expect: compile-error 4:5 syntax error: 'return' outside function
x = 1
if x:
    return x
