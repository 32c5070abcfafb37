# expect: runtime-error NameError line 8
def f():
    return y
y = 1
print(f())
del_me = 0
def g():
    print(z)
g()
