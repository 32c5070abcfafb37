# if __name__ == "__main__": and sys.argv.
import sys
def main(args):
    print("args", len(args) >= 1, args[1:])
if __name__ == "__main__":
    main(sys.argv)
print(__name__)
