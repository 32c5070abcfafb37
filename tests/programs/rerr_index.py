# expect: runtime-error IndexError line 5
xs = [1, 2, 3]
i = 0
while True:
    print(xs[i])
    i += 1
