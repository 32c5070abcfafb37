# expect: runtime-error AttributeError line 7
class A:
    pass
class B(A):
    def f(self):
        print("calling super")
        return super().missing()
B().f()
