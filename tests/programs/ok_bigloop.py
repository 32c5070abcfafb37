# A long loop that allocates: exercises back-edge safepoints and collection.
class Cell:
    __slots__ = ("v", "next")
    def __init__(self, v, nxt):
        self.v = v
        self.next = nxt
head = None
for i in range(20000):
    head = Cell(i, head)
    if i % 100 == 0:
        head = None
n = 0
total = 0
while head is not None:
    n += 1
    total += head.v
    head = head.next
print(n, total)
junk = 0
for i in range(20000):
    s = str(i) + "x"
    lst = [i, s, (i, s)]
    junk += len(lst[2][1])
print(junk)
