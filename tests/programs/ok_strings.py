# Strings: literals, +, *, len, ==, <, indexing, slicing, str(), join, iteration.
s = "hello"
t = 'world'
print(s + " " + t, s * 3, len(s), s == "hello", s < t, s > t, "" < "a", "ab" < "abc")
print(s[0], s[-1], s[1:3], s[:2], s[3:], s[:], s[-3:-1], s[10:], s[2:100])
print(str(12), str(-3.5), str(True), str(None), str("x"), str([1, "a"]))
print("-".join(["a", "b", "c"]), "".join([]), ", ".join(["x"]))
for c in "abc":
    print(c, end=".")
print()
print("tab\there", "quote\"s", 'single\'s', "newline\nend", "back\\slash")
print("a" in "cat", "z" in "cat", "at" in "cat", "x" not in "cat")
print(len("\u00e9t\u00e9"), "caf\u00e9", "snow \u2603")
print("abc" != "abd", "b" >= "a", "B" < "a")
print("x=" + str(1) + ";")
