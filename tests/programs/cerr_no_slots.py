# expect: compile-error 2:1 __slots__
class A:
    def __init__(self):
        self.x = 1
