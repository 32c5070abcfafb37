# find, count, startswith, endswith and rfind with start/end past the string or
# past each other: even an empty substring is not found there, as in CPython.
s = "abc"
for a in ((5,), (3,), (2, 1), (-1,), (-10,), (0, -5), (1, 1), (4, 2), (None, 2), (2, None)):
    print(a, s.find("", *a), s.count("", *a), s.startswith("", *a), s.endswith("", *a), s.find("b", *a), s.count("c", *a),
          s.startswith("b", *a), s.endswith("c", *a), s.rfind("", *a))
e = "éàü"
print(e.find("", 4), e.count("", 3), e.count("", 2, 1), e.startswith("", 4), e.find("à", 1), e.rfind("", 5))
