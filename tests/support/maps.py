"""/proc/self/maps helpers for the cmc tests."""
from __future__ import annotations


def mappings() -> list[tuple[int, int, str]]:
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            out.append((lo, hi, parts[1]))
    return out


def covering(start: int, length: int) -> list[tuple[int, int, str]]:
    """Every mapping that overlaps [start, start + length)."""
    return [m for m in mappings() if m[0] < start + length and start < m[1]]


def assert_one_mapping(start: int, length: int, perms: str = "rw-p") -> None:
    """The range is covered by exactly one mapping with these permissions."""
    cov = covering(start, length)
    assert len(cov) == 1, f"heap range split or missing: {[(hex(a), hex(b), p) for a, b, p in cov]}"
    lo, hi, p = cov[0]
    assert lo <= start and start + length <= hi and p == perms, (hex(lo), hex(hi), p)


def rss_of(start: int, length: int) -> int:
    """Resident bytes of the mappings inside [start, start + length) (smaps Rss)."""
    total = 0
    with open("/proc/self/smaps") as f:
        cur = None
        for line in f:
            head = line.split(None, 1)[0]
            if "-" in head and ":" not in head:
                lo, hi = (int(x, 16) for x in head.split("-"))
                cur = (lo, hi) if lo < start + length and start < hi else None
            elif cur and line.startswith("Rss:"):
                kb = int(line.split()[1])
                lo, hi = cur
                # an overlapping larger VMA: count it only when fully inside
                if start <= lo and hi <= start + length:
                    total += kb * 1024
    return total


def resident_bytes(start: int, length: int) -> int:
    """Resident bytes of the pages of [start, start + length) (mincore(2); page aligned)."""
    import ctypes
    import mmap
    page = mmap.PAGESIZE
    n = (length + page - 1) // page
    if n == 0:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    vec = (ctypes.c_ubyte * n)()
    if libc.mincore(ctypes.c_void_p(start), ctypes.c_size_t(length), vec) != 0:
        raise OSError(ctypes.get_errno(), "mincore")
    return sum(b & 1 for b in vec) * page
