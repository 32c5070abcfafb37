# expect: compile-error 2:1 else clause on a loop
while False:
    pass
else:
    print(1)
