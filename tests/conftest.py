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
