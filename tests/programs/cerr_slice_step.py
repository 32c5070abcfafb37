# expect: compile-error 2:6 slice step
print([1, 2, 3][::2])
