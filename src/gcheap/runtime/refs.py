"""Refs: Python's view of heap objects, through handles.

A Ref holds its runtime and a handle (an index into the C core's handle table),
never an address; dropping it frees the handle. define_class makes one Instance
subclass per heap class, with a property per field (its word index cached in the
closure), so a field read is one C call. Hot paths call the cffi functions that
``gcheap._lowlevel`` re-exports and decode their results here: a packed ref
``(class_id << 32) | handle`` (0 = null) or ``-errno``; scalar getters return the
value and leave an error for ``last_error()`` only when they return 0.
"""
from __future__ import annotations

import errno
import operator
from typing import TYPE_CHECKING, Any

from gcheap import _lowlevel as _ll
from gcheap.errors import BadIndex, StaleRef, UnknownField, ValueOutOfRange, WrongType

if TYPE_CHECKING:
    from gcheap.runtime.runtime import Runtime

__all__ = ["Ref", "DeadRef", "Instance", "RefArray", "I64Array", "F64Array", "U8Array", "Str"]

_MASK = 0xFFFFFFFF
# Hot-path aliases: one global lookup instead of a module attribute per call.
_get_ref, _set_ref = _ll.get_ref, _ll.set_ref
_get_i64, _set_i64 = _ll.get_i64, _ll.set_i64
_get_f64, _set_f64 = _ll.get_f64, _ll.set_f64
_last_error = _ll.last_error
_index_of = operator.index
_REF, _I64, _F64 = 0, 1, 2


class Ref:
    """A reference to a heap object, held through a handle. Drop it to free the handle."""

    __slots__ = ("_rt", "_h", "__weakref__")

    def same(self, other: "Ref | None") -> bool:
        """Object identity: True if both refer to the same heap object."""
        if other is None:
            return False
        if not isinstance(other, Ref):
            raise WrongType(f"same() expects a Ref, got {type(other).__name__}")
        rt = self._rt
        if other._rt is not rt:
            return False
        r = _ll.same(rt._c, self._h, other._h)
        if r < 0:
            raise rt._error(r, "same")
        return bool(r)

    def _address(self) -> int:
        """The object's current heap address (tests and debugging only)."""
        r = _ll.address(self._rt._c, self._h)
        if r < 0:
            raise self._rt._error(r, "address")
        return int(r)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ref #{self._h}>"

    def __del__(self) -> None:
        h = self._h
        if h:
            try:
                _ll.handle_free(self._rt._c, h)
            except Exception:  # interpreter shutdown: nothing left to free
                pass

    def __reduce__(self):
        raise TypeError("a Ref cannot be pickled or copied")


_set_rt = Ref._rt.__set__  # type: ignore[attr-defined]
_set_h = Ref._h.__set__  # type: ignore[attr-defined]
_new_obj = object.__new__
_obj_setattr = object.__setattr__


class DeadRef(Ref):
    """What a Ref becomes when the scope() that created it ends."""

    __slots__ = ()

    def __getattr__(self, name: str):
        raise StaleRef("this Ref was freed when its scope() ended")

    def __setattr__(self, name: str, value: Any) -> None:
        raise StaleRef("this Ref was freed when its scope() ended")

    def same(self, other):  # type: ignore[override]
        raise StaleRef("this Ref was freed when its scope() ended")


class Instance(Ref):
    """Base of the Ref classes that define_class creates (one per heap class)."""

    __slots__ = ()
    _fields: dict = {}
    _class_id = -1
    _owner: "Runtime | None" = None

    def __getattr__(self, name: str):
        raise UnknownField(f"{type(self).__name__} has no field {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            kind, idx = self._fields[name]
        except KeyError:
            raise UnknownField(f"{type(self).__name__} has no field {name!r}") from None
        rt = self._rt
        try:
            if kind == _REF:
                if value is None:
                    vh = 0
                elif isinstance(value, Ref) and value._rt is rt and value._h:
                    vh = value._h
                else:
                    vh = rt._handle_of(value, name)  # raises the right error
                rc = _set_ref(rt._c, self._h, idx, vh)
            elif kind == _I64:
                if type(value) is not int:
                    value = _index_of(value)  # TypeError for float, str, ...
                rc = _set_i64(rt._c, self._h, idx, value)
            else:
                rc = _set_f64(rt._c, self._h, idx, value)
        except TypeError:
            want = ("Ref or None", "int", "float")[kind]
            raise WrongType(f"{type(self).__name__}.{name} takes {want}, got {type(value).__name__}") from None
        except OverflowError:
            raise ValueOutOfRange(f"{type(self).__name__}.{name}: {value!r} does not fit in an i64") from None
        if rc:
            raise rt._error(rc, name)


def _ref_getter(name: str, idx: int):
    def get(self):
        rt = self._rt
        r = _get_ref(rt._c, self._h, idx)
        if r > 0:
            return rt._wrap(r)
        if r == 0:
            return None
        raise rt._error(r, name)
    return property(get, doc=f"reference field {name}")


def _i64_getter(name: str, idx: int):
    def get(self):
        v = _get_i64(self._rt._c, self._h, idx)
        if v == 0:
            e = _last_error()
            if e:
                raise self._rt._error(e, name)
        return v
    return property(get, doc=f"i64 field {name}")


def _f64_getter(name: str, idx: int):
    def get(self):
        v = _get_f64(self._rt._c, self._h, idx)
        if v == 0.0:
            e = _last_error()
            if e:
                raise self._rt._error(e, name)
        return v
    return property(get, doc=f"f64 field {name}")


class _Array(Ref):
    __slots__ = ()
    kind = ""
    _dtype = ""

    def __len__(self) -> int:
        rt = self._rt
        n = _ll.length(rt._c, self._h)
        if n < 0:
            raise rt._error(n, "len")
        return int(n)

    def _index_error(self, rc: int, i: Any):
        if rc == -errno.ERANGE:
            return BadIndex(f"index {i} out of range for a {self.kind} array of length {len(self)}")
        return self._rt._error(rc, "index")

    def to_numpy(self):
        """A copy of the elements as a numpy array."""
        import numpy as np
        rt = self._rt
        n = len(self)
        a = np.empty(n, dtype=self._dtype)
        rc, _ = _ll.read_payload(rt._c, self._h, a.nbytes, a)
        if rc:
            raise rt._error(rc, "to_numpy")
        return a

    def __repr__(self) -> str:
        return f"<{self.kind} array ref #{self._h}>"


def _index(i: Any) -> int:
    if isinstance(i, int) and not isinstance(i, bool):
        return i
    if hasattr(i, "__index__") and not isinstance(i, bool):
        return i.__index__()
    raise WrongType(f"array indices must be integers, not {type(i).__name__}")


class RefArray(_Array):
    """An array of references (elements are Refs or None)."""

    __slots__ = ()
    kind = "ref"

    def __getitem__(self, i):
        rt = self._rt
        try:
            r = _ll.aget_ref(rt._c, self._h, i)
        except (TypeError, OverflowError):
            return self[_checked_index(i)]
        if r > 0:
            return rt._wrap(r)
        if r == 0:
            return None
        raise self._index_error(r, i)

    def __setitem__(self, i, value) -> None:
        rt = self._rt
        vh = rt._handle_of(value, "element")
        try:
            rc = _ll.aset_ref(rt._c, self._h, i, vh)
        except (TypeError, OverflowError):
            rc = _ll.aset_ref(rt._c, self._h, _checked_index(i), vh)
        if rc:
            raise self._index_error(rc, i)

    def to_numpy(self):
        raise WrongType("a ref array has no numpy form; iterate it instead")


def _checked_index(i: Any) -> int:
    j = _index(i)
    if not -(1 << 63) <= j < (1 << 63):
        raise BadIndex(f"index {i} out of range")
    return j


def _scalar_array(kind: str, dtype: str, getter, setter, pytype: str):
    class _Scalar(_Array):
        __slots__ = ()

        def __getitem__(self, i):
            rt = self._rt
            try:
                v = getter(rt._c, self._h, i)
            except (TypeError, OverflowError):
                return self[_checked_index(i)]
            if v == 0:
                e = _ll.last_error()
                if e:
                    raise self._index_error(e, i)
            elif kind == "u8" and v < 0:
                raise self._index_error(v, i)
            return v

        def __setitem__(self, i, value) -> None:
            rt = self._rt
            if isinstance(value, (str, bytes)) or value is None or isinstance(value, Ref):
                raise WrongType(f"a {kind} array takes {pytype} elements, got {type(value).__name__}")
            if pytype == "int" and type(value) is not int:
                try:
                    value = _index_of(value)
                except TypeError:
                    raise WrongType(f"a {kind} array takes int elements, got {type(value).__name__}") from None
            if kind == "u8" and not 0 <= value <= 255:
                raise ValueOutOfRange(f"a u8 element must be in 0..255, got {value}")
            i = _checked_index(i)
            try:
                rc = setter(rt._c, self._h, i, value)
            except TypeError:
                raise WrongType(f"a {kind} array takes {pytype} elements, got {type(value).__name__}") from None
            except OverflowError:
                raise ValueOutOfRange(f"{value!r} does not fit in a {kind} element") from None
            if rc:
                raise self._index_error(rc, i)

    _Scalar.kind = kind
    _Scalar._dtype = dtype
    return _Scalar


class I64Array(_scalar_array("i64", "<i8", _ll.aget_i64, _ll.aset_i64, "int")):  # type: ignore[misc]
    """An array of signed 64-bit integers."""
    __slots__ = ()


class F64Array(_scalar_array("f64", "<f8", _ll.aget_f64, _ll.aset_f64, "float")):  # type: ignore[misc]
    """An array of 64-bit floats."""
    __slots__ = ()


class U8Array(_scalar_array("u8", "u1", _ll.aget_u8, _ll.aset_u8, "int")):  # type: ignore[misc]
    """An array of bytes."""
    __slots__ = ()


class Str(Ref):
    """An immutable UTF-8 string in the heap; str(s) decodes it."""

    __slots__ = ()

    @property
    def nbytes(self) -> int:
        rt = self._rt
        n = _ll.length(rt._c, self._h)
        if n < 0:
            raise rt._error(n, "nbytes")
        return int(n)

    def __str__(self) -> str:
        rt = self._rt
        rc, data = _ll.read_payload(rt._c, self._h, self.nbytes)
        if rc:
            raise rt._error(rc, "str")
        return data.decode("utf-8", errors="surrogatepass")

    def __repr__(self) -> str:
        return f"<Str ref #{self._h}>"
