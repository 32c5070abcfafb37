# expect: compile-error 4:1 base class
class A:
    __slots__ = ()
class B(A):
    __slots__ = ()
