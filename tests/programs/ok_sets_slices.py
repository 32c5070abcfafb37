# sets (CPython's iteration order for ints), frozensets, slices with steps, assignment, deletion
s = {5, 3, 17, 1, 9}
print(s, list(s), sorted(s), len(s), 3 in s, 4 not in s)
t = set(range(20, 0, -3))
print(t, s | t, s & t, s - t, t - s, s ^ t)
s.add(100)
s.add(3)
s.discard(5)
s.remove(17)
print(s, s.pop(), s)
u = set()
for x in [40, 8, 16, 0, 24, 32, 1]:
    u.add(x)
print(u, frozenset(u) == u, {1, 2} < {1, 2, 3}, {1, 2} <= {1, 2}, {1, 2, 3} > {1}, {1}.isdisjoint({2}))
f = frozenset([3, 1, 2])
print(f, hash(f) == hash(frozenset([1, 2, 3])), {f: "fs"}[frozenset((2, 3, 1))], f | {9})
big = set(range(100))
big -= set(range(0, 100, 3))
print(len(big), sorted(big)[:10], min(big), max(big))
big &= {1, 2, 4, 5, 200}
print(big, big.union([7], (8,)), big.intersection(range(3)), big.difference({1}))
pts = {(1, 2), (3, 4), (1, 2)}
print(pts, len(pts), {-1, -2, 2 ** 40, 7}, {0.5, 1.5, 1, 1.0})
print(set("mississippi") == {"m", "i", "s", "p"}, sorted(set("mississippi")))
u2 = {1, 2, 3}
u2 |= {4}
u2 ^= {1, 5}
print(u2, set([1, 2]).issubset([1, 2, 3]), {1, 2, 3}.issuperset([2]))
try:
    set().pop()
except KeyError as e:
    print("KeyError", e)
try:
    {1}.remove(2)
except KeyError as e:
    print("KeyError", e)
a = list(range(10))
print(a[::2], a[1::3], a[::-1], a[8:2:-2], a[-3:], a[:-7:-1], a[100:], a[-100:2], a[::-3])
b = a[:]
b[2:5] = ["x", "y"]
print(b, len(b))
b[::2] = range(5)
print(b)
b[:0] = [-1, -2]
b[len(b):] = [99]
print(b)
del b[1:4]
print(b)
del b[::2]
print(b)
c = list(range(8))
c[1:7:2] = "abc"
print(c)
try:
    c[::2] = [1, 2]
except ValueError as e:
    print("ValueError:", e)
perm = [0, 1, 2, 3, 4, 5]
k = 3
perm[:k + 1] = perm[k::-1]
print(perm)
word = "abcdefgh"
print(word[::-1], word[1:7:2], word[-2::-3], word[5:1:-1], "héllo wörld"[::-1], "héllo"[1:3])
tup = tuple(range(6))
print(tup[::2], tup[4:1:-1], tup[-2:])
sl = slice(1, 5, 2)
print(a[sl], sl.start, sl.stop, sl.step, slice(3), repr(slice(None, 2)))
print(range(10)[2:8:2], range(10)[::-1][:3], list(range(10)[-3:]), range(0, 20, 5)[2])
m = [[0] * 3 for _ in range(2)]
m[1][2] = 5
print(m)
