# expect: compile-error 2:5 complex literal
z = 1j + 2
