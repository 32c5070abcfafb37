# '%(key)s' % mapping with a format string built at run time (so that a collection
# while the key is allocated moves it): the key is read from the format string
# after that allocation, not before it.
d = {"key": 1, "other": "x", "a_much_longer_key_name_here": 3.5, "nested (paren)": None}
out = []
for i in range(60):
    junk = [[j] for j in range(5)]
    fmt = "".join(["%(key)s and ", "%(other)s, ", "%(a_much_longer_key_name_here)s", " %(nested (paren))r"])
    junk = None
    out.append(fmt % d)
print(out[-1], len(set(out)))
print("%(key)05d|%(other)-3s|" % d)
