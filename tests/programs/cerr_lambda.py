# expect: compile-error 3:4 lambda
x = 1
f = lambda y: y + x
print(f(1))
