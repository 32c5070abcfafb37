# expect: compile-error 2:5 bytes
b = b'abc'
