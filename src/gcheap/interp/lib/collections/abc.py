"""collections.abc for gcheap programs: the names exist (for imports and type
hints); isinstance() against them is not supported."""


class _ABC:
    def __class_getitem__(cls, item):
        return cls


class Iterable(_ABC):
    pass


class Iterator(Iterable):
    pass


class Generator(Iterator):
    pass


class Sized(_ABC):
    pass


class Container(_ABC):
    pass


class Collection(Sized, Iterable, Container):
    pass


class Sequence(Collection):
    pass


class MutableSequence(Sequence):
    pass


class Mapping(Collection):
    pass


class MutableMapping(Mapping):
    pass


class Set(Collection):
    pass


class MutableSet(Set):
    pass


class Callable(_ABC):
    pass


class Hashable(_ABC):
    pass


class AsyncIterator(_ABC):
    pass


class AsyncIterable(_ABC):
    pass
