# expect: compile-error 2:0 from-import
from sys import argv
