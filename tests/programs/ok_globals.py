# Module-level globals read and written from functions.
total = 0
names = []
def record(n):
    global total
    total += n
    names.append(str(n))
for i in range(5):
    record(i)
print(total, "".join(names))
def shadow():
    total = -1
    return total
print(shadow(), total)
