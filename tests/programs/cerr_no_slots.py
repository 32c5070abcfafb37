# expect: compile-error 2:0 __slots__
class A:
    def __init__(self):
        self.x = 1
