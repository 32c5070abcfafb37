# expect: runtime-error RecursionError line 3
def forever(n):
    return forever(n + 1)
print("start")
forever(0)
