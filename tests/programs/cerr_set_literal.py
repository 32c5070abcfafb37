# expect: compile-error 2:4 set
s = {1, 2}
