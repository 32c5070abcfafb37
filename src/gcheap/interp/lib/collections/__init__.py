"""collections for gcheap programs: deque, defaultdict, OrderedDict, Counter and
namedtuple (a class with the named fields that indexes, iterates and compares
like a tuple; it is not a tuple subclass here)."""


class deque:
    def __init__(self, iterable=(), maxlen=None):
        self._items = []
        self.maxlen = maxlen
        for x in iterable:
            self.append(x)

    def append(self, x):
        self._items.append(x)
        if self.maxlen is not None and len(self._items) > self.maxlen:
            self._items.pop(0)

    def appendleft(self, x):
        self._items.insert(0, x)
        if self.maxlen is not None and len(self._items) > self.maxlen:
            self._items.pop()

    def pop(self):
        if not self._items:
            raise IndexError("pop from an empty deque")
        return self._items.pop()

    def popleft(self):
        if not self._items:
            raise IndexError("pop from an empty deque")
        return self._items.pop(0)

    def extend(self, iterable):
        for x in iterable:
            self.append(x)

    def extendleft(self, iterable):
        for x in iterable:
            self.appendleft(x)

    def clear(self):
        self._items = []

    def rotate(self, n=1):
        if self._items:
            n = n % len(self._items)
            self._items = self._items[-n:] + self._items[:-n]

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def __getitem__(self, i):
        return self._items[i]

    def __setitem__(self, i, v):
        self._items[i] = v

    def __bool__(self):
        return len(self._items) > 0

    def __eq__(self, other):
        return isinstance(other, deque) and self._items == other._items

    def __repr__(self):
        if self.maxlen is None:
            return "deque(%r)" % (self._items,)
        return "deque(%r, maxlen=%d)" % (self._items, self.maxlen)


class defaultdict(dict):
    def __init__(self, default_factory=None, *args, **kwargs):
        dict.__init__(self, *args, **kwargs)
        self.default_factory = default_factory

    def __missing__(self, key):
        if self.default_factory is None:
            raise KeyError(key)
        value = self.default_factory()
        self[key] = value
        return value

    def __repr__(self):
        return "defaultdict(%r, %s)" % (self.default_factory, dict.__repr__(self))


class OrderedDict(dict):
    def move_to_end(self, key, last=True):
        value = self.pop(key)
        if last:
            self[key] = value
        else:
            items = list(self.items())
            self.clear()
            self[key] = value
            for k, v in items:
                self[k] = v

    def __repr__(self):
        return "OrderedDict(%r)" % (list(self.items()),)


class Counter(dict):
    def __init__(self, iterable=None, **kwds):
        dict.__init__(self)
        self.update(iterable, **kwds)

    def __missing__(self, key):
        return 0

    def update(self, iterable=None, **kwds):
        if iterable is not None:
            if isinstance(iterable, dict):
                for elem, count in iterable.items():
                    self[elem] = self[elem] + count
            else:
                for elem in iterable:
                    self[elem] = self[elem] + 1
        for elem, count in kwds.items():
            self[elem] = self[elem] + count

    def most_common(self, n=None):
        items = sorted(self.items(), key=lambda kv: kv[1], reverse=True)
        return items if n is None else items[:n]

    def elements(self):
        for elem, count in self.items():
            for _ in range(count):
                yield elem

    def total(self):
        return sum(self.values())

    def __repr__(self):
        if not self:
            return "Counter()"
        return "Counter({%s})" % ", ".join(["%r: %r" % kv for kv in self.most_common()])


def namedtuple(typename, field_names, *, rename=False, defaults=None, module=None):
    if isinstance(field_names, str):
        field_names = field_names.replace(",", " ").split()
    fields = tuple(field_names)
    ndefaults = 0 if defaults is None else len(defaults)

    def __init__(self, *args, **kwargs):
        values = list(args)
        if len(values) > len(fields):
            raise TypeError("%s() takes %d positional arguments but %d were given"
                            % (typename, len(fields) + 1, len(values) + 1))
        for name in fields[len(values):]:
            if name in kwargs:
                values.append(kwargs.pop(name))
            elif ndefaults and fields.index(name) >= len(fields) - ndefaults:
                values.append(defaults[fields.index(name) - (len(fields) - ndefaults)])
            else:
                raise TypeError("%s() missing required argument: '%s'" % (typename, name))
        if kwargs:
            raise TypeError("%s() got an unexpected keyword argument '%s'" % (typename, list(kwargs)[0]))
        for name, value in zip(fields, values):
            setattr(self, name, value)

    def _astuple(self):
        return tuple([getattr(self, name) for name in fields])

    def __repr__(self):
        return "%s(%s)" % (typename, ", ".join(["%s=%r" % (n, getattr(self, n)) for n in fields]))

    def __iter__(self):
        return iter(_astuple(self))

    def __len__(self):
        return len(fields)

    def __getitem__(self, i):
        return _astuple(self)[i]

    def __eq__(self, other):
        return tuple(self) == tuple(other)

    def __lt__(self, other):
        return tuple(self) < tuple(other)

    def __hash__(self):
        return hash(_astuple(self))

    def _asdict(self):
        return {name: getattr(self, name) for name in fields}

    def _replace(self, **kwargs):
        values = [kwargs.pop(name, getattr(self, name)) for name in fields]
        return cls(*values)

    namespace = {"__init__": __init__, "__repr__": __repr__, "__iter__": __iter__,
                 "__len__": __len__, "__getitem__": __getitem__, "__eq__": __eq__,
                 "__lt__": __lt__, "__hash__": __hash__, "_asdict": _asdict,
                 "_replace": _replace, "_fields": fields, "__slots__": fields}
    cls = type(typename, (object,), namespace)
    return cls
