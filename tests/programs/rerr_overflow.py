# expect: runtime-error OverflowError line 5
# oracle: none (CPython ints are unbounded; gcheap ints are 64-bit)
x = 2 ** 62
print(x)
print(x * 4)
