# expect: compile-error 2:6 sorted
print(sorted([2, 1]))
