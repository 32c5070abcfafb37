# expect: runtime-error AttributeError line 3
l = [1]
l.push(2)
