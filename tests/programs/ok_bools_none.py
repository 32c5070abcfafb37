# bool and None: truthiness, and/or/not results, identity.
print(True, False, None, True and 3, 0 or "x", None or 0, not None, not 1, not "")
print(True + True, True * 5, 1 == True, None is None, None is not None)
values = [0, 1, "", "a", [], [0], {}, {1: 2}, None, 0.0, 2.5, (), (1,)]
for v in values:
    if v:
        print("truthy", v)
    else:
        print("falsy", v)
print(isinstance(True, int), isinstance(1, bool), isinstance(None, int))
a = None
b = a or [1]
print(b, a and b)
