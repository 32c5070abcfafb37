# expect: runtime-error KeyError line 4
d = {"a": 1}
print(d["a"])
print(d["b"])
