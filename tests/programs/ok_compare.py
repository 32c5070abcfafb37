# Comparisons across types and chains with side effects evaluated once.
def f(x):
    print("f", x)
    return x
print(f(1) < f(2) < f(3))
print(f(3) < f(2) < f(1))
print(1 == 1.0, 1 < 1.5, "a" == 1, None == 0, [1] == [1.0], (1, "a") == (1, "a"))
print(2 != 3, 2 <= 2 <= 3 > 1)
a = [1, 2]
b = [1, 2]
print(a == b, a is b, a is not b)
