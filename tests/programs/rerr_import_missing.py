# expect: runtime-error ModuleNotFoundError line 3
print("before")
import no_such_module_for_gcheap
