# expect: compile-error 3:5 lambda
x = 1
f = lambda y: y + x
print(f(1))
