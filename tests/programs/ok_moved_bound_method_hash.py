# Found by an audit for stale heap pointers (run under --stress: every allocation
# collects): a bound method whose self's __hash__ allocates (the method was read after it moved).
keep = []

def make():
    garbage = [str(j) for j in range(30)]
    class A:
        def __init__(self, v):
            self.v = v
        def m(self):
            return self.v
        def __hash__(self):
            keep.append([str(self.v), str(self.v + 1), (self.v, self.v)])
            return self.v
        def __eq__(self, o):
            return isinstance(o, A) and o.v == self.v
    return A

def main():
    g = [str(j) for j in range(30)]
    A = make()
    d = {}
    objs = []
    for i in range(10):
        garbage = [str(j) for j in range(10)]
        a = A(i)
        objs.append(a)
        d[(str(i) + "x", a.m)[1]] = i
    out = []
    for a in objs:
        garbage = [str(j) for j in range(10)]
        out.append(d.get((str(i) + "y", a.m)[1], -1))
    print(out)
    s = set()
    for a in objs:
        s.add((str(i) + "z", a.m)[1])
    print(len(s))
    print(hash((str(i) + "z", objs[3].m)[1]) == hash(objs[3].m))

main()
