# Found by an audit for stale heap pointers (run under --stress: every allocation
# collects): slices whose bounds' __index__ shrinks the list.
lst = []
class Shrink:
    def __init__(self, n):
        self.n = n
    def __index__(self):
        lst.clear()
        return self.n

def main():
    global lst
    lst = [str(i) for i in range(10)]
    print(lst[Shrink(2):])
    lst = [str(i) for i in range(10)]
    lst[Shrink(2):Shrink(4)] = ["a", "b", "c"]
    print(lst)
    lst = [str(i) for i in range(10)]
    del lst[Shrink(2):]
    print(lst)

main()
