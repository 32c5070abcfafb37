"""The process's one SIGBUS dispatcher (csrc/kernel/fault.c): the concurrent
compactor and gcheap.kernel's SigbusService share it, and a SIGBUS that is not
theirs reaches the handler installed before it exactly once, even when that
handler (faulthandler) was re-enabled over ours and hands the signal back."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.uffd

PROLOGUE = """
import faulthandler, mmap, os, sys
from gcheap import _lowlevel as ll
from gcheap.cmc import CmcOptions, Compactor
from gcheap.kernel import Region, SigbusService, Userfaultfd
"""


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROLOGUE + code], capture_output=True, text=True, timeout=60)


def test_cmc_and_sigbus_service_share_one_handler():
    r = run("""
faulthandler.enable()
size = 2 << 20
addr = ll.map_anon(size, 2 << 20)
cm = Compactor(addr, size, CmcOptions(fault_mode="sigbus"))
src = Region(1 << 20); src.write(0, b"s" * (1 << 20))
dst = Region(1 << 20)
uffd = Userfaultfd(["sigbus"])
uffd.register(dst)
with SigbusService(uffd, dst, source=src.address, how="copy"):
    assert dst.read(4096 * 3, 4) == b"ssss"          # served by the service's slot
    cm.flip(); ll.cmc_test_touch(addr, 64, 1); cm.wait()   # served by the cmc's slot
    assert ll.sigbus_installed()
print("ok", ll.sigbus_chained())
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["ok", "0"]


@pytest.mark.parametrize("order", ["faulthandler-first", "faulthandler-over-ours"])
def test_foreign_sigbus_reaches_faulthandler_once(tmp_path, order):
    """faulthandler-first: faulthandler, then our dispatcher (cmc and the service)
    on top. faulthandler-over-ours: our dispatcher first, faulthandler.enable()
    over it (faulthandler's 'previous' is then ours), and a flip that takes SIGBUS
    back: after dumping, faulthandler restores ours and re-raises the signal into
    us, and we must not call it a second time (that loops forever)."""
    f = tmp_path / "f"
    r = run(f"""
first = {order == "faulthandler-first"}
if first:
    faulthandler.enable()
size = 2 << 20
addr = ll.map_anon(size, 2 << 20)
cm = Compactor(addr, size, CmcOptions(fault_mode="sigbus"))
dst = Region(1 << 20)
uffd = Userfaultfd(["sigbus"])
uffd.register(dst)
svc = SigbusService(uffd, dst, how="zeropage")
if not first:
    faulthandler.enable()          # over our dispatcher
    assert not ll.sigbus_installed()
    cm.flip(); cm.wait()           # the flip puts the dispatcher back on top
assert ll.sigbus_installed()
p = {str(f)!r}
with open(p, 'wb') as fh: fh.write(b'x' * 8192)
fh = open(p, 'r+b'); m = mmap.mmap(fh.fileno(), 8192)
os.truncate(p, 0)
print('touching', flush=True)
m[4096]
print('survived', flush=True)
""")
    assert "touching" in r.stdout and "survived" not in r.stdout
    assert r.returncode == -7, (r.returncode, r.stderr)          # killed by SIGBUS
    assert r.stderr.count("Fatal Python error: Bus error") == 1, r.stderr
