# expect: runtime-error TypeError line 6
class P:
    def __init__(self, x):
        self.x = x
print(P(1).x)
P()
