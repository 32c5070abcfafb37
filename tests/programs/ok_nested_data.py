# Nested data structures and aliasing.
grid = []
for i in range(3):
    row = []
    for j in range(3):
        row.append(i * 3 + j)
    grid.append(row)
print(grid)
grid[1][1] = "c"
print(grid[1])
index = {}
words = ["apple", "avocado", "banana", "blueberry", "cherry"]
for w in words:
    k = w[0]
    if k not in index:
        index[k] = []
    index[k].append(w)
print(index)
for k, v in index.items():
    print(k, len(v), ",".join(v))
rec = {"name": "n", "tags": ["a", "b"], "meta": {"depth": 2}}
print(rec["meta"]["depth"], rec["tags"][-1])
