"""The layering of docs/architecture.md, checked mechanically: no #include and no
import goes up a layer, and each C layer compiles against the headers of its
own and lower layers alone."""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
SRC = ROOT / "src" / "gcheap"

sys.path.insert(0, str(CSRC))
from cffi_build import CFLAGS, LAYERS  # noqa: E402

C_RANK = {layer: i for i, layer in enumerate(LAYERS)}
C_RANK["testing"] = len(LAYERS)                 # may use every layer; none may use it
PY_RANK = {"errors": 0, "_native": 0, "_lowlevel": 0, "metrics": 0, "kernel": 1, "cmc": 2, "runtime": 3, "interp": 4,
           "bench": 5, "snapshot": 4, "cli": 9, "__main__": 9, "__init__": 9,
           "__version__": 0}     # a constant of the package, not a module
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def c_layer_of(path: Path) -> str:
    rel = path.relative_to(CSRC)
    if rel.parts[0] == "include":               # include/gcheap/<layer>.h
        return rel.stem
    return rel.parts[0]


def include_layer(name: str) -> str:
    """gcheap/<layer>.h -> layer; <layer>/x.h -> layer."""
    parts = name.split("/")
    if parts[0] == "gcheap":
        return Path(parts[1]).stem
    return parts[0]


def c_violations(files: dict[str, str]) -> list[str]:
    """files: csrc-relative path -> text. An include of a higher layer's header
    (public or internal) is a violation."""
    out = []
    for rel, text in files.items():
        layer = c_layer_of(CSRC / rel)
        for inc in INCLUDE.findall(text):
            target = include_layer(inc)
            if target not in C_RANK:
                out.append(f"{rel}: includes {inc!r}, which belongs to no layer")
            elif C_RANK[target] > C_RANK[layer]:
                out.append(f"{rel} ({layer}) includes {inc!r} ({target}): up a layer")
    return out


def c_sources() -> dict[str, str]:
    return {str(p.relative_to(CSRC)): p.read_text() for p in sorted(CSRC.rglob("*.[ch]"))}


def test_no_include_goes_up_a_layer():
    assert c_violations(c_sources()) == []


def test_the_include_check_catches_an_upward_include():
    bad = {"runtime/heap.c": '#include "runtime/runtime_impl.h"\n#include "gc/gc_impl.h"\n',
           "kernel/x.c": '#include "gcheap/cmc.h"\n', "gc/y.c": '#include "gcheap/testing.h"\n'}
    found = c_violations(bad)
    assert len(found) == 3 and all("up a layer" in f for f in found)


@pytest.mark.skipif(not shutil.which("gcc"), reason="gcc not installed")
def test_each_layer_compiles_against_its_own_and_lower_headers_alone(tmp_path):
    """For each layer, a tree holding only the headers of that layer and the ones
    below it: every source of the layer must compile there (-fsyntax-only)."""
    failures = []
    for layer in LAYERS + ["testing"]:
        tree = tmp_path / layer
        (tree / "gcheap").mkdir(parents=True)
        for lower, rank in C_RANK.items():
            if rank > C_RANK[layer]:
                continue
            pub = CSRC / "include" / "gcheap" / f"{lower}.h"
            if pub.exists():
                shutil.copy(pub, tree / "gcheap")
            if (CSRC / lower).is_dir():
                (tree / lower).mkdir()
                for h in (CSRC / lower).glob("*.h"):
                    shutil.copy(h, tree / lower)
        sources = sorted((CSRC / layer).glob("*.c"))
        assert sources, layer
        r = subprocess.run(["gcc", "-fsyntax-only", *CFLAGS, "-I", str(tree), *map(str, sources)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"{layer}:\n{r.stderr[:2000]}")
    assert not failures, "\n".join(failures)


# ---- Python ---------------------------------------------------------------------

def py_layer_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py") if rel.parts else "__init__"


def imported_layers(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, layer) of every gcheap module a module imports (lazy imports too)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("gcheap."):
                    out.append((node.lineno, a.name.split(".")[1]))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gcheap":     # a subpackage, or an attribute of the package itself
                out += [(node.lineno, a.name if a.name in PY_RANK else "__init__") for a in node.names]
            elif node.module.startswith("gcheap."):
                out.append((node.lineno, node.module.split(".")[1]))
    return out


def py_violations(modules: dict[Path, str]) -> list[str]:
    out = []
    for path, text in modules.items():
        layer = py_layer_of(path)
        for line, target in imported_layers(ast.parse(text)):
            if target not in PY_RANK:
                out.append(f"{path.relative_to(SRC)}:{line}: imports gcheap.{target}, which belongs to no layer")
            elif PY_RANK[target] > PY_RANK[layer]:
                out.append(f"{path.relative_to(SRC)}:{line} ({layer}) imports gcheap.{target}: up a layer")
    return out


def test_no_import_goes_up_a_layer():
    modules = {p: p.read_text() for p in sorted(SRC.rglob("*.py"))}
    assert modules
    assert py_violations(modules) == []


def test_the_import_check_catches_an_upward_import():
    bad = {SRC / "kernel" / "x.py": "from gcheap.runtime import Runtime\n",
           SRC / "runtime" / "y.py": "def f():\n    import gcheap.interp.run\n",
           SRC / "cmc" / "z.py": "from gcheap import runtime\n"}
    assert len(py_violations(bad)) == 3


def test_only_the_lowlevel_package_touches_the_cffi_module():
    users = [p.relative_to(SRC) for p in SRC.rglob("*.py")
             if re.search(r"gcheap\._native|from gcheap import _native", p.read_text())]
    assert users == [Path("_lowlevel/base.py")]
