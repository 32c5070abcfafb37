# classes: inheritance, super(), class attributes, method resolution order
class Base:
    kind = "base"
    count = 0

    def __init__(self, name):
        self.name = name
        Base.count += 1

    def describe(self):
        return "%s(%s)" % (self.kind, self.name)

    def who(self):
        return "Base.who"


class Left(Base):
    kind = "left"

    def who(self):
        return "Left>" + super().who()


class Right(Base):
    def __init__(self, name, extra=0):
        super().__init__(name)
        self.extra = extra

    def who(self):
        return "Right>" + super(Right, self).who()


class Diamond(Left, Right):
    def who(self):
        return "Diamond>" + super().who()


d = Diamond("d", )
print(d.describe(), d.who(), d.extra, Base.count)
print([c.__name__ for c in Diamond.__mro__])
print(isinstance(d, Base), isinstance(d, Left), isinstance(d, Right), isinstance(Base("x"), Left))
print(issubclass(Diamond, Right), issubclass(Right, Left), issubclass(bool, int))
print(Base.count, d.count, type(d).__name__, d.__class__.kind)
Left.kind = "LEFT"
print(d.describe(), Left("l").describe())


class Shape:
    def area(self):
        raise NotImplementedError

    def __repr__(self):
        return "%s with area %.2f" % (type(self).__name__, self.area())


class Square(Shape):
    def __init__(self, s):
        self.s = s

    def area(self):
        return self.s * self.s


class Circle(Shape):
    def __init__(self, r):
        self.r = r

    def area(self):
        return 3.14159 * self.r ** 2


shapes = [Square(2), Circle(1), Square(3)]
for s in shapes:
    print(s)
print(sorted(shapes, key=lambda s: s.area()))
try:
    Shape().area()
except NotImplementedError:
    print("abstract")


class Counter:
    instances = []

    @classmethod
    def make(cls, n):
        obj = cls()
        obj.n = n
        cls.instances.append(obj)
        return obj

    @staticmethod
    def double(x):
        return 2 * x

    @property
    def value(self):
        return self.n * 10

    @value.setter
    def value(self, v):
        self.n = v // 10


c = Counter.make(3)
print(c.n, c.value, Counter.double(21), c.double(4), len(Counter.instances))
c.value = 70
print(c.n, c.value)


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = 1


s = Slotted()
s.b = 2
print(s.a, s.b)
try:
    s.c = 3
except AttributeError as e:
    print("AttributeError:", e)
try:
    print(Slotted().b)
except AttributeError as e:
    print("AttributeError:", e)


class OrderedCollection(list):
    pass


oc = OrderedCollection()
oc.append(3)
oc.append(1)
oc.extend([2, 5])
oc.sort()
print(oc, len(oc), oc[0], oc[-1], 5 in oc, isinstance(oc, list))
oc.remove(5)
print(oc.pop(0), oc)


class Registry(dict):
    def register(self, k, v):
        self[k] = v
        return self


r = Registry().register("a", 1).register("b", 2)
print(sorted(r.items()), len(r), r.get("a"), "b" in r)
