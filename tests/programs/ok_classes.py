# Classes with __slots__, __init__ and methods; identity; isinstance.
class Point:
    __slots__ = ("x", "y")
    def __init__(self, x, y):
        self.x = x
        self.y = y
    def norm2(self):
        return self.x * self.x + self.y * self.y
    def moved(self, dx, dy=0):
        return Point(self.x + dx, self.y + dy)
class Counter:
    __slots__ = ["count"]
    def __init__(self):
        self.count = 0
    def incr(self):
        self.count += 1
        return self
p = Point(3, 4)
print(p.norm2(), p.moved(1).x, p.moved(1, 2).y, isinstance(p, Point), isinstance(p, Counter))
c = Counter()
c.incr().incr().incr()
print(c.count)
q = p
q.x = 10
print(p.x, p is q, p is Point(10, 4))
class Empty:
    __slots__ = ()
e = Empty()
print(isinstance(e, Empty))
class Tree:
    __slots__ = ("left", "right", "val")
    def __init__(self, val, left=None, right=None):
        self.val = val
        self.left = left
        self.right = right
    def total(self):
        t = self.val
        if self.left is not None:
            t += self.left.total()
        if self.right is not None:
            t += self.right.total()
        return t
print(Tree(1, Tree(2), Tree(3, Tree(4))).total())
