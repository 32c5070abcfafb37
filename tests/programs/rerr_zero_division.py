# expect: runtime-error ZeroDivisionError line 3
def ratio(a, b):
    return a / b
print("before")
print(ratio(1, 0))
