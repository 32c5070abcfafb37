# Insertion sort of strings and ints.
def isort(xs):
    for i in range(1, len(xs)):
        v = xs[i]
        j = i - 1
        while j >= 0 and xs[j] > v:
            xs[j + 1] = xs[j]
            j -= 1
        xs[j + 1] = v
    return xs
print(isort(["pear", "apple", "fig", "banana", "Apple"]))
print(isort([5, -1, 3, 3, 0, 10]))
print(isort([2.5, 1, -0.5]))
