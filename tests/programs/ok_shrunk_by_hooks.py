# Found by an audit for stale heap pointers: indexing, slicing, del, remove and pop
# with an __index__ or __eq__ that shrinks the sequence (its length was read before
# the hook ran: SIGSEGV, or a store past the items).
lst = []
class Shrink:
    def __init__(self, n):
        self.n = n
    def __index__(self):
        lst.clear()
        return self.n
class E:
    def __eq__(self, o):
        lst.clear()
        return True

def main():
    global lst
    lst = [str(i) for i in range(10)]
    try:
        print(lst[Shrink(7)])
    except IndexError as e:
        print("IndexError", e)
    lst = [str(i) for i in range(10)]
    try:
        lst[Shrink(7)] = "x"
    except IndexError as e:
        print("IndexError", e)
    print(lst)
    lst = [1, 2, E(), 4]
    lst.remove(0)
    print(len(lst))

main()
import array
def arr():
    global lst
    lst = array.array('i', range(10))
    class S:
        def __index__(self):
            while len(lst):
                lst.pop()
            return 7
    try:
        print(lst[S()])
    except IndexError as e:
        print("IndexError", e)
    lst = array.array('i', range(10))
    try:
        print(lst.pop(S()))
    except IndexError as e:
        print("IndexError", e)
    lst = array.array('i', range(10))
    try:
        del lst[S()]
    except IndexError as e:
        print("IndexError", e)
    lst = list(range(10))
    try:
        del lst[S()]
    except IndexError as e:
        print("IndexError", e)
    print(range(10)[Shrink(3)], "abcdef"[Shrink(2)], (1, 2, 3)[Shrink(-1)])
arr()


def slices():
    global lst
    lst = [str(i) for i in range(10)]
    print(lst[Shrink(2):])
    lst = [str(i) for i in range(10)]
    lst[Shrink(2):Shrink(4)] = ["a", "b", "c"]
    print(lst)
    lst = [str(i) for i in range(10)]
    del lst[Shrink(2):]
    print(lst)
slices()
