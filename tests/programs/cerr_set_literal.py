# expect: compile-error 2:5 set
s = {1, 2}
