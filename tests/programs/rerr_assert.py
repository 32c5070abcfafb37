# expect: runtime-error AssertionError line 4
x = 1
assert x == 1
assert x == 2, "x is not two"
