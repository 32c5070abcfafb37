# import time: perf_counter is monotonic; lines with timings start with #time.
import time
t0 = time.perf_counter()
s = 0
for i in range(10000):
    s += i
t1 = time.perf_counter()
print(s, t1 >= t0, isinstance(t0, float))
print("#time elapsed " + str(t1 - t0))
