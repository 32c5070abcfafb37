# Integer arithmetic, bit operations, comparisons chains.
a = 17
b = 5
print(a + b, a - b, a * b, a // b, a % b, a ** 2, -a // b, -a % b, a // -b, a % -b)
print(a & b, a | b, a ^ b, ~a, a << 3, a >> 2, -a >> 2)
print(1 < 2 < 3, 1 < 3 < 2, 3 > 2 >= 2, 1 == 1 != 2)
print(2 ** 62, -(2 ** 62) * 2, 9223372036854775807, -9223372036854775807 - 1)
print(abs(-7), abs(7), min(3, 1, 2), max(3, 1, 2), min([4, 5, -1]), max([4, 5, -1]))
print(int("42"), int("-17"), int(3.99), int(-3.99), int(True), 7 / 2, 8 / 2)
print(0x10, 0o17, 0b101, 1_000_000)
x = 10
x += 5
x -= 3
x *= 2
x //= 5
x %= 3
x **= 3
x <<= 4
x >>= 1
x &= 0xff
x |= 1
x ^= 2
print(x)
