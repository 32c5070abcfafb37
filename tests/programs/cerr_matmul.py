# expect: compile-error 4:7 operator @
class M:
    pass
print(M() @ M())
