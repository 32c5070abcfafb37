# Found by an audit for stale heap pointers (run under --stress: every allocation
# collects): lst[i] with an __index__ that empties lst.
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
    global lst
    lst = [str(i) for i in range(10)]
    try:
        print(lst[Shrink(7)])
    except IndexError as e:
        print("IndexError", e)

main()
