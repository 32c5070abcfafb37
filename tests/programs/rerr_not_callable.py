# expect: runtime-error TypeError line 3
x = 5
x()
