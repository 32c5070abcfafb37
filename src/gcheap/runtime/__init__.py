"""gcheap.runtime: the managed runtime (a Java-like heap in one anonymous mapping).

- ``Runtime`` (runtime.py): the heap, its classes, handles, global roots and collector.
- ``Ref`` and its subclasses (refs.py): Python's view of heap objects, through handles.
- ``GlobalRoots`` and ``Scope`` (roots.py): roots the program keeps.
- ``GCReport`` (report.py), ``CmcReport`` (cmc.py): what a collection did.
"""
from gcheap.runtime.refs import F64Array, I64Array, Instance, Ref, RefArray, Str, U8Array
from gcheap.runtime.report import GCReport
from gcheap.runtime.runtime import COLLECTORS, Runtime, default_heap_max, parse_size

__all__ = ["Runtime", "Ref", "Instance", "RefArray", "I64Array", "F64Array", "U8Array", "Str",
           "GCReport", "parse_size", "default_heap_max", "COLLECTORS"]
