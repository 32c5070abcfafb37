# expect: runtime-error TypeError line 3
d = {}
d[[1]] = 2
