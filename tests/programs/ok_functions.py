# Functions: positional and default arguments, recursion, return values, globals.
def add(a, b=10, c=100):
    return a + b + c
print(add(1), add(1, 2), add(1, 2, 3))
def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)
print(fact(20))
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
print(fib(20))
def noreturn():
    x = 1
print(noreturn())
counter = 0
def bump():
    global counter
    counter += 1
    return counter
bump()
bump()
print(counter)
LIMIT = 3
def uses_global():
    return LIMIT * 2
print(uses_global())
def even(n):
    if n == 0:
        return True
    return odd(n - 1)
def odd(n):
    if n == 0:
        return False
    return even(n - 1)
print(even(10), odd(7))
def defaults_evaluated_once(x, acc=[]):
    acc.append(x)
    return len(acc)
print(defaults_evaluated_once(1), defaults_evaluated_once(2))
