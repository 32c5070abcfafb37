# expect: compile-error 3:6 undefined_name
x = 1
print(undefined_name)
