# expect: runtime-error TypeError line 3
print(1 < 2)
print(1 < "2")
