# Float repr is the shortest round-tripping form, like CPython.
vals = [0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1e15, 1e16, 1.5e16, 123456789012345678.0, 1e-4, 1e-5,
        0.000123, 3.0, -2.5, 1e300 * 1e300, -(1e300 * 1e300), 2 ** 0.5, 100.0, 1e22, 1e21]
for v in vals:
    print(v)
print(str(0.1), [0.1, 0.25])
