# A list of objects mutated in place, indexes and pops.
class Item:
    __slots__ = ("name", "qty")
    def __init__(self, name, qty):
        self.name = name
        self.qty = qty
items = []
for i in range(10):
    items.append(Item("item" + str(i), i * 3))
while len(items) > 3:
    it = items.pop()
    items[0].qty += it.qty
print(items[0].name, items[0].qty, len(items))
