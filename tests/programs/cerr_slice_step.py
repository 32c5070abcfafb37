# expect: compile-error 2:7 slice step
print([1, 2, 3][::2])
