# expect: compile-error 4:0 base class
class A:
    __slots__ = ()
class B(A):
    __slots__ = ()
