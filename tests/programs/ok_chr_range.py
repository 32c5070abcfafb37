# chr() converts to a C int first (OverflowError), then checks the code point range.
for v in (2**31, 2**31-1, -2**31, -2**31-1, 9223372036854775807, 0x110000, -1, 65):
    try:
        print(repr(chr(v)))
    except (ValueError, OverflowError) as e:
        print(v, type(e).__name__, e)
