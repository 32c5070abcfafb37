# Augmented assignment on names, attributes, subscripts.
class Box:
    __slots__ = ("v",)
    def __init__(self):
        self.v = 1
b = Box()
b.v += 4
b.v *= 3
l = [1, 2, 3]
l[1] += 10
l[-1] *= 2
d = {"a": 1}
d["a"] += 1
s = "ab"
s += "cd"
s *= 2
lst = [1]
lst += [2, 3]
print(b.v, l, d, s, lst)
i = 0
calls = []
def idx():
    calls.append(1)
    return 0
l[idx()] += 1
print(l, len(calls))
