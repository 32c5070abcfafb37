# Dict delete-and-reinsert keeps insertion order semantics.
d = {}
for i in range(10):
    d[i] = i
for i in range(0, 10, 3):
    del d[i]
d[0] = "back"
print(list(d.keys()))
d[5] = "updated"
print(list(d.items())[:3], len(d))
keys = list(d.keys())
for k in keys:
    if k % 2 == 1:
        del d[k]
print(d)
