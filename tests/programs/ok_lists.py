# Lists: literal, append, pop, insert, index, len, iteration, indexing, slicing.
a = [3, 1, 4]
a.append(1)
a.insert(0, 9)
a.insert(100, 7)
a.insert(-1, 8)
print(a, len(a), a[0], a[-1], a.index(4))
print(a.pop(), a.pop(0), a.pop(1), a)
a[0] = "x"
a[-1] = [1, 2]
print(a, a[1:], a[:1], a[-2:], a[5:], a[:])
b = [0] * 5
b[2] = 2
print(b, [1, 2] + [3], [1] * 0, [] == [], [1, 2] == [1, 2], [1, 2] != [1, 3])
total = 0
for x in [1, 2, 3, 4]:
    total += x
print(total, 3 in [1, 2, 3], 5 not in [1, 2, 3])
c = b
c.append(9)
print(b is c, len(b))
del b[0]
print(b)
nested = [[1, 2], [3, [4, 5]]]
print(nested[1][1][0], nested)
print([1, 2] < [1, 3], [2] > [1, 9])
