# Recursion a few hundred levels deep is fine.
def depth(n):
    if n == 0:
        return 0
    return 1 + depth(n - 1)
print(depth(500))
def build(n):
    if n == 0:
        return None
    return [n, build(n - 1)]
t = build(300)
c = 0
while t is not None:
    c += t[0]
    t = t[1]
print(c)
