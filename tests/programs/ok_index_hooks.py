# __index__ and __eq__ run program code inside list and dict methods: the list or
# dict they change must be read again after it (a stale length once wrote past
# the end of a cleared list in pop). And d |= takes what dict.update takes.
L = [str(i) for i in range(5000)]


class Clears:
    def __index__(self):
        L.clear()
        return 0


try:
    print(L.pop(Clears()))
except IndexError as e:
    print("IndexError", e)

M = [1, 2, 3]


class Grows:
    def __index__(self):
        M.append(4)
        return -1


print(M.pop(Grows()), M, M.pop(), M.pop(0), M)
try:
    [].pop(Grows())
except IndexError as e:
    print("IndexError", e)
N = [0, 1, 2]
N.insert(Grows(), "x")
print(N, M)
d = {1: 2}
d |= [(3, 4), (5, 6)]
d |= {7: 8}
print(sorted(d.items()))
for bad in ("ab", 5, [(1,)]):
    try:
        d |= bad
    except (TypeError, ValueError) as e:
        print(type(e).__name__)
try:
    print(d | [(1, 2)])
except TypeError as e:
    print("TypeError")
