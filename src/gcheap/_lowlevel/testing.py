"""Test and benchmark support (csrc/testing, gcheap/testing.h)."""
from __future__ import annotations

from gcheap._lowlevel.base import check, ffi, lib  # noqa: F401

# ---- kernel layer (test support, raw costs)

def seccomp_deny_userfaultfd(err: int, also_dev: bool = False) -> None:
    """Test support: userfaultfd(2) (and with also_dev the /dev/userfaultfd
    ioctl) fails with err in this process from now on."""
    check(lib.gk_seccomp_deny_userfaultfd(err, int(also_dev)), "seccomp")


def fork_and_reap_child() -> int:
    """Test support: fork in C (GIL released); the child exits at once."""
    return check(lib.gk_fork_and_reap_child(), "fork")


# raw-cost benchmarks (csrc/bench_raw.c): timing loops in C, samples in ns

_BENCH = frozenset({"memcpy", "first_touch", "uffd_copy", "uffd_zeropage", "uffd_move",
                    "fault_thread", "fault_sigbus", "mremap_dontunmap"})


def bench_samples(name: str, n_samples: int, *args: int) -> list[int]:
    """Runs gkb_<name>(*args, ns_out) and returns its n_samples samples (ns)."""
    if name not in _BENCH:
        raise ValueError(f"unknown benchmark {name!r}")
    out = ffi.new("uint64_t[]", n_samples)
    check(getattr(lib, "gkb_" + name)(*args, out), f"bench {name}")
    return [int(out[i]) for i in range(n_samples)]


def test_store_ref_unbarriered(rt, h: int, idx: int, value_h: int) -> None:
    """Test support: a reference store that bypasses the write barrier."""
    check(lib.gr_test_store_ref_unbarriered(rt, h, idx, value_h), "unbarriered store")
