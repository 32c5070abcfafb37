# expect: compile-error 2:0 else clause on a loop
while False:
    pass
else:
    print(1)
