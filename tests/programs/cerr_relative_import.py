# expect: compile-error 2:1 relative import
from . import sibling
