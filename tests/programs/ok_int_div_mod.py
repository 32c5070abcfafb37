# Floor division and modulo follow Python's sign rules.
for a in [7, -7, 0, 13]:
    for b in [2, -2, 5, -5]:
        print(a, b, a // b, a % b, a / b)
print(7.5 % 2, -7.5 % 2, 7.5 // -2, 2 ** 10, 2 ** 0, (-2) ** 3, 10 ** -1)
