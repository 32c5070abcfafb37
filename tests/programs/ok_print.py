# print with several args, sep= and end=.
print()
print(1, 2, 3)
print(1, 2, 3, sep="")
print(1, 2, 3, sep=", ", end="!\n")
print("no newline", end="")
print(" continued")
print("a", "b", sep="\n")
print(None, True, 1.5, "s", [1, "s", None, 2.0, (1,)], (1, "x"), {"k": [1]})
