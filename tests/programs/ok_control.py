# if/elif/else, while, for, break, continue, pass, ternary.
for i in range(10):
    if i % 2 == 0:
        continue
    elif i == 7:
        break
    else:
        pass
    print("odd", i)
n = 0
while True:
    n += 1
    if n > 5:
        break
print(n)
i = 0
while i < 3:
    j = 0
    while j < 3:
        if j == 1:
            j += 1
            continue
        print(i, j)
        j += 1
    i += 1
print("yes" if n > 3 else "no", "a" if 0 else "b")
for i in range(3, 0, -1):
    print(i)
for i in range(0):
    print("never")
print(list(range(5)), list(range(2, 8, 3)), list(range(5, 0, -2)))
