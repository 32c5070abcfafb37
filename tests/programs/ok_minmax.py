# min/max/abs/len/isinstance over several types.
print(min("b", "a", "c"), max(["x", "yy"]), max(1, 2.5), min((3, 2, 9)), abs(-0.0))
print(len([]), len(()), len({}), len(""), len(range(10)), len(range(3, 10, 2)))
print(isinstance(1, int), isinstance(1.0, float), isinstance("s", str), isinstance([], list),
      isinstance({}, dict), isinstance((), tuple), isinstance(True, bool), isinstance(1, (str, int)))
