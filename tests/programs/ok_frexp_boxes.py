# Found by an audit for stale heap pointers (run under --stress: every allocation
# collects): math.frexp's two results boxed with both rooted.
import math
ballast = None
def main():
    global ballast
    out = []
    for i in range(1, 6):
        ballast = [str(j) for j in range(10)]
        out.append(math.frexp(1e-300 * i))
        out.append(math.modf(2.5 * i))
    print(out)
main()
