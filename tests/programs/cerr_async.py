# expect: compile-error 3:1 async def
print(1)
async def f():
    return 1
