"""Fixtures and hooks for the whole suite (helpers live in tests/support).

``@pytest.mark.uffd`` / ``@pytest.mark.uffd("move")``: the test needs userfaultfd
(and the named features): skipped with a reason where the kernel lacks it, FAILED
under GCHEAP_REQUIRE_UFFD=1 (CI). ``@pytest.mark.stress``: long runs, only with
GCHEAP_STRESS=1.
"""
from __future__ import annotations

import os

import pytest

from gcheap.kernel import Capabilities
from tests.support.uffd import require_uffd


@pytest.fixture
def uffd_caps() -> Capabilities:
    return require_uffd()


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("uffd")
    if marker is not None:
        require_uffd(marker.args[0] if marker.args else None)
    if item.get_closest_marker("stress") and os.environ.get("GCHEAP_STRESS") != "1":
        pytest.skip("long stress run: set GCHEAP_STRESS=1")


@pytest.fixture(autouse=True)
def no_sigbus_range_left_behind():
    """Every range a test registered with the process's one SIGBUS dispatcher is gone
    when the test ends (its runtime, compactor, page server or service closed). A
    range left behind serves a stale owner: a later mapping at the same addresses
    would have its faults answered by it."""
    from gcheap import _lowlevel as ll
    before = ll.sigbus_ranges()
    yield
    left = [r for r in ll.sigbus_ranges() if r not in before]
    assert not left, f"SIGBUS dispatcher ranges left registered: {[(hex(a), n) for a, n in left]}"
