# expect: compile-error 2:1 import of module 'os'
import os
print(os.getcwd())
