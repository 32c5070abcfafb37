# sys.argv is a list of str; argv[0] is the program path.
import sys
print(isinstance(sys.argv, list), len(sys.argv), sys.argv[0][-3:])
