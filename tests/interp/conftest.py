import pathlib
import sys

# The helpers module (programs.py) sits beside the tests.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
