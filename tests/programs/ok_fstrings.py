# Simple f-strings with format specs.
name = "gc"
n = 42
f = 3.14159
print(f"name={name} n={n} f={f}")
print(f"{n:5d}|{n:<5}|{n:>5}|{n:^5}|{name:>4}|{name:<4}|")
print(f"{f:.2f} {f:8.3f} {n * 2} {n // 5} {name + '!'}")
print(f"{{braces}} {n}{n}")
print(f"{[1, 2]} {None} {True} {-1.5}")
print(f"{1e20:.1f} {0.000123:.2e}")
print(f"{n:08d} {-n:6d} {f:+.1f}")
