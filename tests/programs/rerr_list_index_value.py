# expect: runtime-error ValueError line 3
print([1, 2].index(2))
print([1, 2].index(5))
