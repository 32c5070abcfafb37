# Floats: arithmetic, repr, mixing with ints, formatting.
print(0.1 + 0.2, 1.0, 1.5e300 * 1e10 > 1e308, 2.5 * 2, 1 / 3, 10.0 // 3, 10.0 % 3, -7.5 // 2)
print(float("1.25"), float(3), float("-0.5"), 3.0 == 3, 2 ** 0.5, 2.0 ** -1, abs(-2.5))
print(1e16, 1e-5, 123456789.125, 0.0, -0.0, 1e100, 5e-324)
print(min(1.5, 2), max(1.5, 2), int(1e15), 3 * 1.5, 7 // 2.0)
x = 1.0
for i in range(10):
    x = x * 1.1
print(x)
print(f"{x:.3f} {x:10.2f}| {x:e} {x:g} {3:5d}| {-2.5:.0f} {0.5:.0f} {1.5:.0f}")
