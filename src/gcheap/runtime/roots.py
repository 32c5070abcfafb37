"""Roots held from Python besides Refs: named global roots and scopes."""
from __future__ import annotations

import errno
import threading
import weakref
from typing import TYPE_CHECKING, Iterator

from gcheap import _lowlevel as _ll
from gcheap.errors import RuntimeClosed, TableFull, WrongType
from gcheap.runtime.refs import DeadRef, Ref, _obj_setattr, _set_h

if TYPE_CHECKING:
    from gcheap.runtime.runtime import Runtime

__all__ = ["GlobalRoots", "Scope"]


class GlobalRoots:
    """Named global roots: ``rt.globals["table"] = ref`` keeps the object alive."""

    def __init__(self, rt: "Runtime") -> None:
        # weakly: the runtime holds its roots, and a cycle would keep a dropped runtime
        # (its heap, its GC threads, its SIGBUS range) until Python's cyclic collector ran
        self._rt_ref = weakref.ref(rt)
        self._index: dict[str, int] = {}
        self._free: list[int] = []
        self._lock = threading.Lock()

    @property
    def _rt(self) -> "Runtime":
        rt = self._rt_ref()
        if rt is None:
            raise RuntimeClosed("the runtime is closed")
        return rt

    def __setitem__(self, name: str, value: "Ref | None") -> None:
        if not isinstance(name, str):
            raise WrongType(f"global root names are str, got {type(name).__name__}")
        rt = self._rt
        vh = rt._handle_of(value, f"globals[{name!r}]")
        with self._lock:
            idx = self._index.get(name)
            new = idx is None
            if new:
                idx = self._free.pop() if self._free else len(self._index) + len(self._free)
            rc = _ll.global_set(rt._c, idx, vh)
            if rc:
                if new:
                    self._free.append(idx)
                if rc == -errno.ERANGE:
                    raise TableFull("too many global roots")
                raise rt._error(rc, "globals")
            self._index[name] = idx

    @staticmethod
    def _key(name: object) -> str:
        if not isinstance(name, str):
            raise WrongType(f"global root names are str, got {type(name).__name__}")
        return name

    def __getitem__(self, name: str) -> "Ref | None":
        rt = self._rt
        idx = self._index[self._key(name)]
        r = _ll.global_get(rt._c, idx)
        if r > 0:
            return rt._wrap(r)
        if r == 0:
            return None
        raise rt._error(r, "globals")

    def _table(self) -> tuple[dict[str, int], list[int]]:
        """The name -> slot map and the free slots, taken together (a snapshot's meta)."""
        with self._lock:
            return dict(self._index), list(self._free)

    def _load(self, index: dict[str, int], free: list[int]) -> None:
        """A restored runtime's roots: the original's map and its free slots in their
        order, so that a new root gets the slot the original would give it (never
        a live one: the next slot past them all is len(index) + len(free))."""
        with self._lock:
            self._index, self._free = dict(index), list(free)

    def __delitem__(self, name: str) -> None:
        with self._lock:
            idx = self._index.pop(self._key(name))
            _ll.global_set(self._rt._c, idx, 0)
            self._free.append(idx)

    def get(self, name: str, default=None):
        return self[name] if name in self._index else default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._index))

    def __len__(self) -> int:
        return len(self._index)


class Scope:
    """Frees every handle created in this thread inside the with-block at its end."""

    def __init__(self, rt: "Runtime") -> None:
        self._rt = rt
        self._refs: list[Ref] | None = None

    def __enter__(self) -> "Scope":
        rt = self._rt
        rt._check_open()
        stack = rt._tls.__dict__.setdefault("scopes", [])
        self._refs = []
        stack.append(self._refs)
        with rt._scope_lock:
            rt._nscopes += 1
        return self

    def keep(self, ref: "Ref | None") -> "Ref | None":
        """A new Ref to the same object that survives this scope (belongs to the enclosing one)."""
        if ref is None:
            return None
        rt = self._rt
        stack = rt._tls.scopes
        mine = stack.pop()
        try:
            r = _ll.handle_dup(rt._c, ref._h)
            if r < 0:
                raise rt._error(r, "keep")
            return rt._wrap(r)
        finally:
            stack.append(mine)

    def __exit__(self, *exc) -> None:
        rt = self._rt
        stack = rt._tls.scopes
        refs = stack.pop()
        with rt._scope_lock:
            rt._nscopes -= 1
        for ref in refs:
            h = ref._h
            if h:
                _set_h(ref, 0)
                _obj_setattr(ref, "__class__", DeadRef)
                _ll.handle_free(rt._c, h)
