# rfind/rindex/rsplit/split/replace/str building over strings longer than the
# interpreter's 256 KiB polling windows, with matches on and across window edges,
# needles longer than a window, and multi-byte UTF-8 text (code point offsets).
# Small enough for the test heaps (4 MiB under cmc).
W = 256 * 1024
big = "ab" * (W // 2 + 1000)          # W + 2000 bytes
marked = big[:W - 1] + "XY" + big[W + 1:] + "XY"
print(marked.rfind("XY"), marked.rfind("XY", 0, len(marked) - 1), marked.rfind("XY", 0, W))
print(marked.rfind("XY", W - 1, W + 1), marked.rfind("XY", W - 1, W), marked.rindex("ba"))
print(big.rfind("zz"), big.rfind(""), big.rfind("", 10, 5), big.rfind("b", 3, 3), big.count("ab"))
long_needle = "ab" * (W // 2 + 7)
print(big.rfind(long_needle), big.find(long_needle), (big + "c").rfind(long_needle + "c"))
del long_needle
uni = ("é" + "x" * 1000) * 270 + "ü"
print(len(uni), uni.rfind("é"), uni.rfind("ü"), uni.rfind("éx", 0, 5000), uni.rindex("x"))
parts = marked.split("XY")
print(len(parts), [len(p) for p in parts])
parts = marked.rsplit("XY", 1)
print(len(parts), [len(p) for p in parts])
parts = uni.rsplit("é", 3)
print(len(parts), [len(p) for p in parts], parts[-1][-3:])
parts = None
text = " " * (W + 5) + ("w" * 1000 + " ") * 270 + "\t tail  "
words = text.split()
print(len(words), len(words[0]), words[-1])
words = text.split(None, 3)
print(len(words), len(words[0]), len(words[3]), repr(words[3][-8:]))
words = text.rsplit(None, 1)
print(len(words), len(words[0]), words[1])
words = ("  head " + "x" * (W + 10) + "  y  ").rsplit()
print(len(words), [len(w) for w in words])
words = text = None
r = big.replace("b", "cd")
print(len(r), r[:7], r[-7:], r.count("cd"))
r = big.replace("ab", "", W // 4)
print(len(r), r[:4])
r = uni.replace("é", "e")
print(len(r), r.find("é"), r[:3], r.rfind("ü"))
r = ("é" * 3000).replace("", "-", 2000)
print(len(r), r[:6], r.count("-"))
r = marked.replace("XY", "<>")
print(r.rfind("<>"), len(r))
r = None
s = "%(k)s" % {"k": big}
print(len(s), s == big)
