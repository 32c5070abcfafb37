# expect: compile-error 2:4 bytes
b = b'abc'
