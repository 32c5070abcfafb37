# expect: compile-error 2:4 assignment expression
if (n := 3) > 2:
    print(n)
