# Found by an audit for stale heap pointers (run under --stress: every allocation
# collects): round(x, n) with an n.__index__ that allocates (x was read before it).
keep = []
ballast = None
class Idx:
    def __init__(self, n):
        self.n = n
    def __index__(self):
        global ballast
        ballast = None
        keep.append([str(self.n), str(self.n + 1), (self.n, self.n)])
        return self.n

class R:
    def __init__(self, v):
        self.v = v
    def __round__(self, n=None):
        return ("R", self.v, n.n)

def main():
    global ballast
    out = []
    for i in range(1, 8):
        ballast = [str(j) for j in range(10)]
        x = 1.23456 * i
        out.append(round(x, Idx(2)))
        ballast = [str(j) for j in range(10)]
        y = 123456 * i + 7
        out.append(round(y, Idx(-2)))
        ballast = [str(j) for j in range(10)]
        r = R(i)
        out.append(round(r, Idx(1)))
    print(out)

main()
