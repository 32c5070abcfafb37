# expect: compile-error 2:7 sorted
print(sorted([2, 1]))
