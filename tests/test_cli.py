"""The gcheap command as a newcomer meets it: `gcheap` and `python -m gcheap` are
the same program, every subcommand is listed with a help text written for users,
bad options exit 2 with a one-line message."""
from __future__ import annotations

import subprocess
import sys

import pytest

from gcheap.cli import SUBCOMMANDS, build_parser


def gcheap(*args):
    return subprocess.run([sys.executable, "-m", "gcheap", *args], capture_output=True, text=True, timeout=60)


def test_python_m_gcheap_lists_every_subcommand_with_its_help():
    r = gcheap("--help")
    assert r.returncode == 0
    for name in SUBCOMMANDS:
        assert f"    {name} " in r.stdout
    assert "Subcommands register" not in r.stdout and "COMMANDS" not in r.stdout.replace("commands:", "")
    assert r.stdout == subprocess.run([sys.executable, "-c", "import sys; from gcheap.cli import main; "
                                       "sys.argv[0] = 'gcheap'; sys.exit(main())", "--help"],
                                      capture_output=True, text=True).stdout


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_each_subcommand_has_a_description_and_option_help(name):
    r = gcheap(name, "--help")
    assert r.returncode == 0
    assert "exit status" in r.stdout
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[name]
    for action in sub._actions:
        if action.dest != "help":
            assert action.help, f"gcheap {name}: option {action.dest} has no help"


def test_no_subcommand_and_unknown_subcommand_exit_2():
    assert gcheap().returncode == 2
    r = gcheap("frobnicate")
    assert r.returncode == 2 and "invalid choice: 'frobnicate'" in r.stderr


def test_version():
    r = gcheap("--version")
    assert r.returncode == 0 and r.stdout.startswith("gcheap ")


def test_run_without_heap_option_runs_splay():
    """Every bundled example runs with no option (the heap follows the live data)."""
    from pathlib import Path
    splay = Path(__file__).resolve().parents[1] / "examples" / "splay.py"
    r = gcheap("run", str(splay))
    assert r.returncode == 0, r.stderr
    assert "latency samples" in r.stdout


@pytest.mark.parametrize("collector", ["stw", pytest.param("cmc", marks=pytest.mark.uffd)])
def test_run_loads_only_what_it_needs(tmp_path, collector):
    """`gcheap run` imports neither the other subcommands nor numpy (about 80 ms of
    start-up on every run of a short program; a cmc runtime imported it until its
    reports did so themselves), nor pathlib, json or the snapshot module (about 9 ms)."""
    prog = tmp_path / "p.py"
    prog.write_text("print(sum(range(10)))\n")
    r = subprocess.run([sys.executable, "-c", "import sys; from gcheap.cli import main; "
                        f"rc = main(['run', '--collector', '{collector}', sys.argv[1]]); "
                        "print(sorted(m for m in sys.modules if m in ('numpy', 'pathlib', 'json', "
                        "'gcheap.runtime.snapshot') or m.startswith(('gcheap.bench', "
                        "'gcheap.snapshot', 'gcheap.kernel.doctor')))); sys.exit(rc)", str(prog)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["45", "[]"]
