"""`gcheap run` options and exit statuses."""
import os

import pytest

from programs import EXAMPLES, PROGRAMS
from vmrun import gcheap

BT = EXAMPLES / "binarytrees.py"


@pytest.mark.parametrize("options,message", [
    (["--heap", "foo"], "heap_size: cannot parse 'foo'"),
    (["--collector", "xyz"], "invalid choice: 'xyz'"),
    (["--collector", "stw", "--fault-mode", "sigbus"], "--fault-mode is an option of collector cmc, not stw"),
    (["--collector", "cmc", "--fault-mode", "bogus"], "invalid choice: 'bogus'"),
    (["--heap-initial", "1G", "--heap", "64M"], "heap_initial: 1073741824 bytes is more than heap_size"),
    (["--target-utilization", "1.5"], "target_utilization: a number in (0, 1]"),
])
def test_bad_options_exit_2_with_a_message(options, message):
    g = gcheap(BT, ["6"], options)
    assert g.returncode == 2 and g.stdout == ""
    assert message in g.stderr


def test_missing_program_exits_1():
    g = gcheap(PROGRAMS / "no_such_program.py")
    assert g.returncode == 1 and "No such file" in g.stderr


def test_stats_line_names_the_collector_and_pause_figures():
    g = gcheap(BT, ["8"], ["--collector", "stw", "--heap", "2M", "--stats"])
    assert g.returncode == 0
    line = g.stderr.strip().splitlines()[-1]
    assert line.startswith("gcheap run [stw]: ")
    for word in ("pauses", "p50", "p99", "longest", "total", "pages", "loop iterations and calls"):
        assert word in line


def test_default_collector_is_cmc_where_the_kernel_allows_it(tmp_path):
    """No --collector: cmc when the doctor says concurrent compaction works here
    (its cycles in the stats), else stw with the reason on the stats' first line."""
    import json

    from gcheap.kernel import probe
    js = tmp_path / "stats.json"
    g = gcheap(BT, ["12"], ["--heap", "2M", "--stats", "--stats-json", str(js)])
    assert g.returncode == 0, g.stderr
    stats = json.loads(js.read_text())
    lines = g.stderr.strip().splitlines()
    if probe().concurrent_compaction:
        assert stats["collector"] == "cmc" and stats["collector_fallback"] is None
        assert lines[-1].startswith("gcheap run [cmc]: ") and len(stats["cycles"]) >= 2
    else:
        assert os.environ.get("GCHEAP_REQUIRE_UFFD") != "1", stats["collector_fallback"]
        assert stats["collector"] == "stw" and "gcheap doctor" in stats["collector_fallback"]
        assert lines[-2].startswith("gcheap run: collector stw: concurrent compaction cannot run here: ")


def test_program_arguments_after_double_dash_may_look_like_options(tmp_path):
    src = tmp_path / "args.py"
    src.write_text("import sys\nprint(sys.argv[1:])\n")
    g = gcheap(src, ["--stats", "-x"])
    assert g.returncode == 0 and g.stdout == "['--stats', '-x']\n"


def test_stats_count_pages_over_every_cmc_cycle(tmp_path):
    """--stats and --stats-json report the pages of every cycle of the run, not the
    last one: built pages sum to the destination pages of every collection."""
    import json

    from vmrun import COLLECTOR_OPTIONS, require_collector
    require_collector("cmc-sigbus")
    js = tmp_path / "stats.json"
    options = [*COLLECTOR_OPTIONS["cmc-sigbus"][:-2], "--heap", "2M", "--stats", "--stats-json", str(js)]
    g = gcheap(BT, ["12"], options)
    assert g.returncode == 0, g.stderr
    stats = json.loads(js.read_text())
    pages, log = stats["pauses"]["cmc_pages"], stats["pause_log"]
    flips = [p for p in log if p["kind"] in ("flip", "mark+flip")]      # one per cycle
    assert pages["cycles"] == len(flips) == len(stats["cycles"]) >= 2
    assert pages["pages_by_gc"] + pages["pages_by_mutator"] == sum(-(-p["live_bytes"] // 4096) for p in flips)
    assert stats["longest_pause_ms"] == max(p["pause_s"] for p in log) * 1e3
    line = g.stderr.strip().splitlines()[-1]
    assert line.startswith("gcheap run [cmc]: ")
    assert (f"pages: {pages['cycles']} cycles, {pages['pages_by_gc']} built by GC, "
            f"{pages['pages_by_mutator']} by mutators;") in line
