# expect: compile-error 2:1 from-import of *
from math import *
