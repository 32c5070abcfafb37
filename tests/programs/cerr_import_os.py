# expect: compile-error 2:0 import of module 'os'
import os
print(os.getcwd())
