# Dicts: insertion order, str/int/object keys, get, set, del, in, len, keys, values, items.
d = {"b": 1, "a": 2}
d["c"] = 3
d[10] = "ten"
d["b"] = 100
print(d, len(d), d["a"], d.get("zz"), d.get("zz", 0), d.get(10))
del d["a"]
print(d, "a" in d, "b" in d, 10 in d, 11 not in d)
d["a"] = 5
print(list(d.keys()), list(d.values()))
for k, v in d.items():
    print(k, v)
for k in d:
    print(k, end=" ")
print()
class Key:
    __slots__ = ("n",)
    def __init__(self, n):
        self.n = n
k1 = Key(1)
k2 = Key(2)
objs = {k1: "one", k2: "two"}
print(objs[k1], objs[k2], k1 in objs, Key(1) in objs)
big = {}
for i in range(1000):
    big[i] = i * i
for i in range(0, 1000, 2):
    del big[i]
print(len(big), big[999], big.get(998))
e = {}
print(e, len(e), {1: 2} == {1: 2}, {True: 1}[1], {1.0: "f"}[1])
