# Found by an audit for stale heap pointers (run under --stress: every allocation
# collects): x in s with a __hash__ that allocates (the set and key were rooted after hashing).
class K:
    def __init__(self, v):
        self.v = v
    def __hash__(self):
        junk = [str(i) for i in range(3)]
        return hash(self.v)
    def __eq__(self, other):
        return isinstance(other, K) and self.v == other.v

def main():
    garbage = []
    for i in range(50):
        garbage.append([i] * 5)
    s = set()
    for i in range(20):
        garbage = [str(j) for j in range(10)]
        s.add(K(i))
    res = []
    for i in range(25):
        garbage = [str(j) for j in range(10)]
        k = K(i)
        res.append(k in s)
    print(res)
    fs = frozenset([K(1), K(2)])
    print(K(1) in fs, K(5) in fs)
    print(s.__contains__(K(3)))

main()
