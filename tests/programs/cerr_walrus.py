# expect: compile-error 2:5 assignment expression
if (n := 3) > 2:
    print(n)
