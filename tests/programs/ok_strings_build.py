# Building strings: join, repetition, int/str round trips.
parts = []
for i in range(20):
    parts.append(str(i * i))
s = ",".join(parts)
print(s, len(s))
print(int(s[-3:]) + 1, str(int("007")), "=" * 10)
row = ""
for c in "abcdef":
    row = c + row
print(row)
print(str(1.0 / 3), str(2.0), str(1e22), str(123.0e-10))
