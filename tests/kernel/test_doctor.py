"""`gcheap doctor`: the report, the exit code and the remedy, checked for real as
root, as an unprivileged user, and under a seccomp filter like Docker's."""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.uffd import require_uffd
from gcheap import _lowlevel as ll
from gcheap.cli import main
from gcheap.kernel.doctor import EXIT_OK, EXIT_UNSUPPORTED, doctor_table
from gcheap.kernel import probe

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


def doctor_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gcheap", "doctor", *args]


def run(cmd: list[str], preexec=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, preexec_fn=preexec,
                          env=env, cwd="/")


@pytest.fixture(scope="module")
def as_nobody(tmp_path_factory):
    """A command prefix that runs the doctor as nobody. The venv and the source
    tree must be readable by nobody; if they are not, the package and its one
    runtime dependency the doctor imports (cffi's backend) are copied to a
    world-readable directory."""
    if os.geteuid() != 0:
        pytest.skip("not root: cannot switch to nobody (this run is already unprivileged)")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) not installed")
    env = {"PATH": "/usr/bin:/bin", "HOME": "/", "LANG": "C.UTF-8"}
    probe_cmd = NOBODY + [sys.executable, "-c", "import gcheap.cli, gcheap._native"]
    if run(probe_cmd, env=env).returncode == 0:
        return NOBODY, env
    import _cffi_backend
    import gcheap
    root = tmp_path_factory.mktemp("nobody")
    shutil.copytree(Path(gcheap.__file__).parent, root / "gcheap")
    shutil.copy(_cffi_backend.__file__, root)
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    for parent in [root, *root.parents]:
        if not os.stat(parent).st_mode & 0o001:
            pytest.skip(f"{parent} is not traversable by nobody, cannot stage a copy")
    env["PYTHONPATH"] = str(root)
    real_python = os.path.realpath(sys.executable)
    if run(NOBODY + [real_python, "-c", "import gcheap.cli, gcheap._native"], env=env).returncode != 0:
        pytest.skip("nobody cannot run this Python interpreter")
    return NOBODY, env


def test_doctor_here_exits_0_and_lists_sigbus_and_move(capsys):
    caps = require_uffd()
    rc = main(["doctor"])
    out = capsys.readouterr().out
    assert rc == (EXIT_OK if caps.concurrent_compaction else EXIT_UNSUPPORTED)
    assert "concurrent compaction" in out and caps.kernel in out
    assert re.search(r"default collector +cmc" if caps.concurrent_compaction else r"default collector +stw", out)
    if "move" in caps.features and "sigbus" in caps.features:
        assert re.search(r"sigbus mode +yes", out) and re.search(r"move +yes", out)


def test_doctor_json_matches_probe():
    require_uffd()
    p = run(doctor_cmd("--json"))
    report = json.loads(p.stdout)
    assert report.pop("default_collector") == ("cmc" if report["concurrent_compaction"] else "stw")
    assert report == json.loads(json.dumps(probe().as_dict()))
    assert p.returncode == (0 if report["concurrent_compaction"] else 2)


def test_doctor_as_unprivileged_user_uses_user_mode_only(as_nobody):
    require_uffd()
    prefix, env = as_nobody
    p = run(prefix + doctor_cmd("--json"), env=env)
    report = json.loads(p.stdout)
    sysctl = Path("/proc/sys/vm/unprivileged_userfaultfd").read_text().strip()
    assert report["cap_sys_ptrace"] is False
    if sysctl == "0":
        # the syscall without UFFD_USER_MODE_ONLY is refused, /dev/userfaultfd is root's
        assert report["routes"]["syscall"] == "EPERM"
        assert report["uffd_via"] == "syscall-user-mode-only"
        assert any("vm.unprivileged_userfaultfd" in n for n in report["notes"])
    else:
        assert report["uffd_via"] == "syscall"
    assert report["concurrent_compaction"] is True and p.returncode == 0
    assert report["remedy"] is None


def test_doctor_under_a_docker_like_seccomp_filter_names_seccomp(as_nobody):
    require_uffd()
    prefix, env = as_nobody
    deny = lambda: ll.seccomp_deny_userfaultfd(errno.EPERM)   # noqa: E731  (runs in the child)
    p = run(prefix + doctor_cmd(), preexec=deny, env=env)
    assert p.returncode == EXIT_UNSUPPORTED, p.stdout + p.stderr
    assert re.search(r"^userfaultfd +NO$", p.stdout, re.M)
    assert "remedy: a seccomp filter blocks userfaultfd(2)" in p.stdout
    # root in the same container still gets a userfaultfd through /dev/userfaultfd
    if os.access("/dev/userfaultfd", os.R_OK | os.W_OK):
        p = run(doctor_cmd("--json"), preexec=deny)
        report = json.loads(p.stdout)
        assert report["uffd_via"] == "dev" and report["routes"]["syscall"] == "EPERM"
        assert p.returncode == EXIT_OK
    # a container without the device: every route is closed, whoever we are
    p = run(doctor_cmd("--json"), preexec=lambda: ll.seccomp_deny_userfaultfd(errno.EPERM, also_dev=True))
    report = json.loads(p.stdout)
    assert p.returncode == EXIT_UNSUPPORTED and report["uffd_via"] is None
    assert report["remedy"].startswith("a seccomp filter blocks userfaultfd(2)")


def test_doctor_table_states_the_remedy():
    caps = probe()
    from dataclasses import replace
    broken = replace(caps, uffd_available=False, uffd_via=None, concurrent_compaction=False,
                     features=frozenset(), remedy="do this")
    text = doctor_table(broken)
    assert "remedy: do this" in text and re.search(r"concurrent compaction +NO", text)
    assert re.search(r"default collector +stw \(stop-the-world: concurrent compaction cannot run here\)", text)
