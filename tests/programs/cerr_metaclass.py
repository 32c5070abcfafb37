# expect: compile-error 5:27 class keyword 'metaclass'
class Meta(type):
    pass

class A(object, metaclass=Meta):
    pass
