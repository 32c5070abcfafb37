# expect: runtime-error KeyError line 4
s = {1, 2}
s.remove(1)
s.remove(1)
