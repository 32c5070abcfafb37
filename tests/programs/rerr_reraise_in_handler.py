# expect: runtime-error KeyError line 6
try:
    [][0]
except IndexError:
    print("handling")
    raise KeyError("from handler")
