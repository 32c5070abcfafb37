# expect: compile-error 2:1 from-import
from sys import argv
