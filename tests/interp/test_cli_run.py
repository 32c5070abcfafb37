"""`gcheap run` options and exit statuses."""
import pytest

from programs import EXAMPLES, PROGRAMS
from vmrun import gcheap

BT = EXAMPLES / "binarytrees.py"


@pytest.mark.parametrize("options,message", [
    (["--heap", "foo"], "heap_size: cannot parse 'foo'"),
    (["--collector", "xyz"], "unknown collector 'xyz'"),
    (["--fault-mode", "sigbus"], "--fault-mode needs --collector cmc"),
    (["--collector", "cmc", "--fault-mode", "bogus"], "fault_mode must be one of"),
])
def test_bad_options_exit_2_with_a_message(options, message):
    g = gcheap(BT, ["6"], options)
    assert g.returncode == 2 and g.stdout == ""
    assert message in g.stderr


def test_missing_program_exits_1():
    g = gcheap(PROGRAMS / "no_such_program.py")
    assert g.returncode == 1 and "No such file" in g.stderr


def test_stats_line_names_the_collector_and_pause_figures():
    g = gcheap(BT, ["8"], ["--heap", "2M", "--stats"])
    assert g.returncode == 0
    line = g.stderr.strip().splitlines()[-1]
    assert line.startswith("gcheap run [stw]: ")
    for word in ("pauses", "p50", "p99", "max", "total", "pages", "bytecodes"):
        assert word in line


def test_program_arguments_after_double_dash_may_look_like_options(tmp_path):
    src = tmp_path / "args.py"
    src.write_text("import sys\nprint(sys.argv[1:])\n")
    g = gcheap(src, ["--stats", "-x"])
    assert g.returncode == 0 and g.stdout == "['--stats', '-x']\n"
