"""The test programs in tests/programs/ and what each one expects.

Three kinds, told apart by name and by a first-line header:
  ok_*.py    no header: CPython is the oracle (same stdout, exit status 0).
  cerr_*.py  `# expect: compile-error LINE:COL WHAT`: outside the subset; the checker
             must reject it at exactly LINE:COL with a message containing WHAT.
  rerr_*.py  `# expect: runtime-error EXC line N`: an uncaught EXC whose innermost
             traceback frame is at line N; non-zero exit. Stdout before the error is
             compared with CPython, unless the second line says `# oracle: none`.
"""
from __future__ import annotations

import atexit
import dataclasses
import os
import pathlib
import re
import shutil
import tempfile

# The interpreter's tests keep compiled program images in a temporary cache
# directory (never the user's ~/.cache), shared by the processes they start.
if "GCHEAP_CACHE_DIR" not in os.environ:
    os.environ["GCHEAP_CACHE_DIR"] = tempfile.mkdtemp(prefix="gcheap-test-images-")
    atexit.register(shutil.rmtree, os.environ["GCHEAP_CACHE_DIR"], ignore_errors=True)

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "tests" / "programs"
EXAMPLES = ROOT / "examples"

_COMPILE = re.compile(r"# expect: compile-error (\d+):(\d+) (.+)$")
_RUNTIME = re.compile(r"# expect: runtime-error (\w+) line (\d+)$")


@dataclasses.dataclass(frozen=True)
class Program:
    path: pathlib.Path
    kind: str                      # "ok", "compile-error", "runtime-error"
    line: int = 0
    col: int = 0
    what: str = ""                 # compile-error message fragment / exception name
    cpython_oracle: bool = True

    @property
    def name(self) -> str:
        return self.path.name


def load(path: pathlib.Path) -> Program:
    lines = path.read_text().splitlines()
    first = lines[0] if lines else ""
    if path.name.startswith("cerr_"):
        m = _COMPILE.match(first)
        if not m:
            raise ValueError(f"{path}: bad compile-error header {first!r}")
        return Program(path, "compile-error", int(m.group(1)), int(m.group(2)), m.group(3),
                       cpython_oracle=False)
    if path.name.startswith("rerr_"):
        m = _RUNTIME.match(first)
        if not m:
            raise ValueError(f"{path}: bad runtime-error header {first!r}")
        oracle = not (len(lines) > 1 and lines[1].startswith("# oracle: none"))
        return Program(path, "runtime-error", int(m.group(2)), 0, m.group(1), oracle)
    if path.name.startswith("ok_"):
        return Program(path, "ok")
    raise ValueError(f"{path}: name must start with ok_, cerr_ or rerr_")


def all_programs() -> list[Program]:
    return [load(p) for p in sorted(PROGRAMS.glob("*.py"))]


# The subset programs among examples/ (the *demo.py files there drive the Python API).
EXAMPLE_PROGRAMS = ("binarytrees.py", "fragmentation.py", "gcbench.py", "message_window.py",
                    "nbody.py", "splay.py", "wordfreq.py")


def subset_examples() -> list[pathlib.Path]:
    return [EXAMPLES / name for name in EXAMPLE_PROGRAMS]


def pyperformance_dir() -> pathlib.Path | None:
    """The benchmark files of the installed pyperformance package (a test extra)."""
    try:
        import pyperformance
    except ImportError:
        return None
    d = pathlib.Path(pyperformance.__file__).parent / "data-files" / "benchmarks"
    return d if d.is_dir() else None


def pyperformance_benchmarks(names=None) -> list[pathlib.Path]:
    from gcheap.interp.pyperformance import BENCHMARKS
    d = pyperformance_dir()
    if d is None:
        return []
    return [d / f"bm_{name}" / "run_benchmark.py" for name in (names or BENCHMARKS)]


def deterministic_lines(out: str) -> list[str]:
    """stdout without the lines that depend on time or on the implementation."""
    return [ln for ln in out.splitlines() if not ln.startswith(("#time", "#heap"))]


def last_exception(stderr: str) -> tuple[str, int | None]:
    """(exception type name, innermost traceback line) of a traceback."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    exc = lines[-1].split(":", 1)[0].strip() if lines else ""
    line_no = None
    for ln in lines:
        m = re.match(r'\s*File ".*", line (\d+)', ln)
        if m:
            line_no = int(m.group(1))
    return exc, line_no
