# expect: runtime-error ValueError line 4
xs = list(range(6))
xs[::2] = [0, 0, 0]
xs[::2] = [1, 2]
