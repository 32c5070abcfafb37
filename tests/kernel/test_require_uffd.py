"""The require_uffd helper itself (tests/support/uffd.py): where userfaultfd is really blocked (a seccomp
filter denying the syscall and /dev/userfaultfd, as in a container), a test
calling require_uffd() skips, and FAILS under GCHEAP_REQUIRE_UFFD=1."""
from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

from tests.support.uffd import require_uffd
from gcheap import _lowlevel as ll

REPO = Path(__file__).resolve().parents[2]

TEST = '''
from tests.support.uffd import require_uffd

def test_needs_uffd():
    require_uffd()
'''


def run_blocked(tmp_path: Path, strict: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_needs.py").write_text(TEST)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    if strict:
        env["GCHEAP_REQUIRE_UFFD"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "test_needs.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: ll.seccomp_deny_userfaultfd(errno.EPERM, also_dev=True))


def test_require_uffd_skips_where_blocked(tmp_path):
    require_uffd()      # the helper must be shown to work where userfaultfd exists
    p = run_blocked(tmp_path, strict=False)
    assert p.returncode == 0 and "1 skipped" in p.stdout, p.stdout + p.stderr
    assert "userfaultfd unavailable" in p.stdout and "seccomp" in p.stdout


def test_require_uffd_fails_where_blocked_under_gcheap_require_uffd(tmp_path):
    require_uffd()
    p = run_blocked(tmp_path, strict=True)
    assert p.returncode == 1 and "1 failed" in p.stdout, p.stdout + p.stderr
    assert "GCHEAP_REQUIRE_UFFD=1 but userfaultfd unavailable" in p.stdout
