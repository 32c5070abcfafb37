# Found by an audit for stale heap pointers (run under --stress: every allocation
# collects): a, b = obj for a non-iterable obj that moved while the error was raised (its type name).
ballast = None
class Foo:
    def __init__(self, v):
        global ballast
        ballast = None
        self.v = v

def main():
    global ballast
    for i in range(5):
        ballast = [str(j) for j in range(10)]
        try:
            a, b = Foo(i)
        except TypeError as e:
            print(e)
    for i in range(3):
        ballast = [str(j) for j in range(10)]
        try:
            a, b = i
        except TypeError as e:
            print(e)

main()
