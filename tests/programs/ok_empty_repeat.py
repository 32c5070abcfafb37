# Repeating an empty sequence a huge number of times is instant and empty (no loop of empty copies).
n = 4000000000000000000
print(len([] * n), len("" * n), len(() * n))
xs = []
xs *= n
print(xs, "[" + "" * n + "]")
