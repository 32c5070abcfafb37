# expect: runtime-error StopIteration line 4
it = iter([1])
print(next(it))
print(next(it))
