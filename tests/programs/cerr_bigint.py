# expect: compile-error 2:5 integer literal outside the 64-bit range
x = 123456789012345678901234567890
