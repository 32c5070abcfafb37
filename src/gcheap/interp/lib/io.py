"""io.StringIO for gcheap programs (text in memory; write, read, getvalue)."""


class StringIO:
    def __init__(self, initial_value="", newline="\n"):
        self._parts = [initial_value] if initial_value else []
        self._value = None
        self._pos = 0
        self.closed = False

    def _text(self):
        if self._value is None:
            self._value = "".join(self._parts)
            self._parts = [self._value]
        return self._value

    def write(self, s):
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if not isinstance(s, str):
            raise TypeError("string argument expected, got '%s'" % type(s).__name__)
        if self._pos != len(self._text()):
            text = self._text()
            text = text[:self._pos] + s + text[self._pos + len(s):]
            self._parts = [text]
            self._value = text
        else:
            self._parts.append(s)
            self._value = None
        self._pos += len(s)
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def getvalue(self):
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        return self._text()

    def read(self, size=-1):
        text = self._text()
        if size is None or size < 0:
            out = text[self._pos:]
        else:
            out = text[self._pos:self._pos + size]
        self._pos += len(out)
        return out

    def readline(self):
        text = self._text()
        end = text.find("\n", self._pos)
        end = len(text) if end < 0 else end + 1
        out = text[self._pos:end]
        self._pos = end
        return out

    def readlines(self):
        lines = []
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)

    def __iter__(self):
        return iter(self.readlines())

    def seek(self, pos, whence=0):
        if whence == 0:
            self._pos = pos
        elif whence == 2:
            self._pos = len(self._text())
        return self._pos

    def tell(self):
        return self._pos

    def truncate(self, size=None):
        text = self._text()
        size = self._pos if size is None else size
        self._parts = [text[:size]]
        self._value = None
        return size

    def flush(self):
        pass

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
