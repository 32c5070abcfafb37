# Tuples: literals, unpacking, indexing, comparison.
t = (1, "two", 3.0)
a, b, c = t
print(t, a, b, c, len(t), t[1], t[-1], t[1:], (1,), ())
x, y = 1, 2
x, y = y, x
print(x, y)
[p, q] = [5, 6]
print(p, q)
pairs = [(1, "a"), (2, "b")]
for n, s in pairs:
    print(n, s)
print((1, 2) == (1, 2), (1, 2) < (1, 3), (1, 2) < (1, 2, 0), 2 in (1, 2))
def two():
    return 3, 4
m, n = two()
print(m + n, two())
