# Tuple unpacking in for loops over dict items and list of tuples.
d = {"x": (1, 2), "y": (3, 4)}
for k, v in d.items():
    a, b = v
    print(k, a + b)
acc = 0
for a, b in [(1, 2), (3, 4), (5, 6)]:
    acc += a * b
print(acc)
