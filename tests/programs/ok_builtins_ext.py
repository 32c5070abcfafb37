# built-in functions: sorted/reversed/enumerate/zip/map/filter/any/all/sum/min/max, numbers
data = [5, 3, 8, 1, 9, 2]
print(sorted(data), sorted(data, reverse=True), sorted("hello"), sorted([(2, "b"), (1, "z"), (2, "a")]))
print(sorted(["bb", "a", "ccc"], key=len), sorted([3, 1, 2], key=lambda x: -x, reverse=True))
pairs = [("x", 2), ("y", 1), ("z", 2), ("w", 1)]
print(sorted(pairs, key=lambda p: p[1]), sorted(pairs, key=lambda p: p[1], reverse=True))
data.sort(key=lambda v: v % 3)
print(data)
print(list(reversed(data)), list(reversed("abc")), list(reversed(range(4))), list(reversed((1, 2))))
print(list(enumerate("ab")), list(enumerate("ab", 10)), list(zip([1, 2, 3], "xy")), list(zip()))
print(list(map(str, range(3))), list(map(lambda a, b: a * b, [1, 2], [3, 4])), list(filter(None, [0, 1, "", "a"])))
print(list(filter(lambda v: v > 2, data)), any([0, "", None]), any(x > 5 for x in data), all([]), all(data))
print(sum(data), sum([0.5, 1.5]), sum([[1], [2]], []), sum(range(101)), sum([1, 2.5]), sum((), 7))
print(min(data), max(data), min("hello"), max([1, 5], [2, 0]), min(4, 2, 8), max(range(3), key=lambda v: -v))
print(abs(-3), abs(-2.5), round(2.5), round(3.5), round(-0.5), round(2.675, 2), round(1234, -2), round(7.0))
print(round(0.1 + 0.2, 10), round(5e-324, 1), round(1e300, -300), divmod(17, 5), divmod(-17, 5), divmod(7.5, 2))
print(pow(2, 10), pow(2, -1), pow(3, 4, 5), pow(-2, 3, 7), 2 ** 62, (-2) ** 63, 10 ** -2)
print(chr(65), ord("A"), hex(255), hex(-16), oct(8), bin(10), bin(-3), int("ff", 16), int(3.99), int(-3.99))
print(float(3), float("1e3"), int(True), bool([]), bool([0]), str(None), type(1).__name__, type("").__name__)
print(isinstance(1, int), isinstance(True, int), isinstance(1.0, (int, str)), isinstance([], list),
      isinstance((), tuple), isinstance({}, dict), isinstance(set(), set), isinstance(None, type(None)))
print(len("abc"), len([1]), len({1: 2}), len(range(0, 10, 3)), len(set("aab")), len(()))
print(list(range(5, 0, -2)), list(range(-3)), range(3), range(1, 9, 2), 5 in range(0, 10, 5), 3 in range(0, 10, 5))
print(hash(1) == hash(1.0), hash(-1), hash(2 ** 61 - 1), hash(1.5), hash((1, 2)), hash(()), hash(frozenset([1, 2])))
print(getattr("abc", "upper")(), getattr([], "nope", "default"), hasattr("", "join"), hasattr(1, "nope"))


class Obj:
    pass


o = Obj()
setattr(o, "field", 12)
print(o.field, getattr(o, "field"), vars(o), hasattr(o, "field"))
delattr(o, "field")
print(hasattr(o, "field"))
print(list(iter([1, 2])), next(iter("xy")), callable(len), callable("s"), format(3.14159, ".3f"), format(42, "08b"))
print(repr(1.0), repr(-2.5e-7), repr(1e16), repr(123.456), repr(float("nan")), repr(float("-inf")), 0.1 * 3)
print(int("-0"), -0.0 == 0.0, 7 // 2, -7 // 2, 7 % -3, -7 % 3, 7.5 // 2, -7.5 % 2, 2 ** 0.5, 1 / 3)
print(1 << 40, -1 >> 3, 5 & 3, 5 | 3, 5 ^ 3, ~5, True + True, 3 * True, 10 / 4, 10 // 4.0)
print(max(1, 2.5), min(-1, -1.0), 3 == 3.0, 0.1 + 0.2 == 0.3, 1e308 * 10, -1e308 * 10)
print(slice(1, 2) == slice(1, 2), (1, 2) < (1, 3), [1, 2] < [1, 2, 0], "a" * 0, [0] * -1)
print(dict(a=1, b=2), dict([("x", 1)]), dict({"k": 1}, z=3), list({"a": 1, "b": 2}), tuple("ab"), set([3, 3]))
print(object() is not None, type(None).__name__, type(len).__name__, type(Obj).__name__, type(type).__name__)
print(id(o) == id(o), NotImplemented, Ellipsis, ...)
