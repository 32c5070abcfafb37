# dicts: methods, views, ordering, comprehension, update, pop, setdefault, fromkeys
d = {"b": 2, "a": 1}
d["c"] = 3
print(d, list(d), list(d.keys()), list(d.values()), list(d.items()), len(d))
print(d.keys(), d.values(), d.items())
print("a" in d, "z" in d, d.get("z"), d.get("z", 0), d.pop("b"), d.pop("z", "none"), d)
print(d.setdefault("a", 100), d.setdefault("n", []), d)
d["n"].append(1)
d.update({"x": 9}, y=10)
d.update([("p", 1)])
print(d)
print(d.popitem(), d.popitem(), d)
e = dict.fromkeys("abc", 0)
print(e, dict.fromkeys([1, 2]), e.copy() == e, e.copy() is e)
del e["b"]
print(e, sorted(e.items(), key=lambda kv: kv[0], reverse=True))
e.clear()
print(e, bool(e))
keys = d.keys()
d["late"] = 1
print("late" in keys, len(keys), sorted(keys))
counts = {}
for ch in "abracadabra":
    counts[ch] = counts.get(ch, 0) + 1
print(counts, max(counts, key=counts.get), sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
nested = {"a": {"b": {"c": 1}}}
nested["a"]["b"]["d"] = [1, 2]
print(nested, nested["a"]["b"]["d"][1])
items = {(1, 2): "tuple key", 3.0: "float", 3: "int wins?", None: "none", True: "bool"}
print(items, items[1], items[3])
try:
    d["missing"]
except KeyError as err:
    print("KeyError", err)
for k, v in {"one": 1, "two": 2}.items():
    print(k, v)
merged = {**{"a": 1}, "b": 2, **{"a": 3}}
print(merged, {1: 1} | {2: 2}, {k: v * 2 for k, v in merged.items()})
try:
    for k in d:
        d["new" + k] = 1
except RuntimeError as err:
    print("RuntimeError", err)
print({} == {}, {"a": 1} == {"a": 1.0}, {"a": [1]} != {"a": [2]}, dict(zip("ab", [1, 2])))
