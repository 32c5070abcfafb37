# list, set and dict comprehensions, nested, with conditions; scoping
words = ["apple", "bob", "kayak", "level", "python", "noon"]
print([w for w in words if w == w[::-1]])
print({len(w) for w in words})
print({w: len(w) for w in words if len(w) > 3})
matrix = [[i * 3 + j for j in range(3)] for i in range(3)]
print(matrix, [row[i] for i, row in enumerate(matrix)])
print([[row[i] for row in matrix] for i in range(3)])
print([(x, y) for x in range(3) for y in range(3) if x != y if x + y > 1])
flat = [v for row in matrix for v in row]
print(flat, sum(v for v in flat if v % 2))
print({k: v for k, v in zip("abc", range(3))}, dict((i, i * i) for i in range(4)))
s = {x % 5 for x in range(20)}
print(sorted(s), 3 in s, len(s))
x = "outer"
print([x for x in range(2)], x)
n = 3
print([i * n for i in range(4)])


def uses_local(k):
    return [i + k for i in range(k)]


print(uses_local(3))
print([c * 2 for c in "ab"], [(lambda y: y * i)(2) for i in range(3)])
