# expect: compile-error 3:7 list comprehension
xs = [1, 2]
print([x * 2 for x in xs])
