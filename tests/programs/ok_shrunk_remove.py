# Found by an audit for stale heap pointers (run under --stress: every allocation
# collects): lst.remove(x) with an __eq__ that clears lst.
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
    lst = [1, 2, E(), 4]
    lst.remove(0)
    print(len(lst))

main()
