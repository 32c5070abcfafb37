# assert passes silently when true.
assert 1 + 1 == 2
assert [1], "non-empty"
x = 3
assert x > 2, "x too small"
print("asserts passed")
