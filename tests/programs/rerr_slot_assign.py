# expect: runtime-error AttributeError line 7
class A:
    __slots__ = ("a",)
    def __init__(self):
        self.a = 1
x = A()
x.b = 2
