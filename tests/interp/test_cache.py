"""The image cache: a program that compiled is not compiled again until its
source, a library module it imports, the set of library modules or the front end
changes; GCHEAP_NO_CACHE turns it off; a damaged entry means compiling again."""
import os

import pytest

from gcheap.interp import cache, compiler
from gcheap.interp.run import program_image


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("GCHEAP_CACHE_DIR", str(d))
    monkeypatch.delenv("GCHEAP_NO_CACHE", raising=False)
    return d


@pytest.fixture
def compiles(monkeypatch):
    """Counts the compilations."""
    calls = []
    real = compiler.compile_source

    def counting(source, filename="<program>"):
        calls.append(filename)
        return real(source, filename)
    monkeypatch.setattr(compiler, "compile_source", counting)
    return calls


def test_a_program_is_compiled_once_and_its_image_reused_with_any_argv(tmp_path, cache_dir, compiles):
    p = tmp_path / "p.py"
    p.write_text("import sys, bisect\nprint(sys.argv)\n")
    first = program_image(str(p), [str(p), "a"])
    second = program_image(str(p), [str(p), "b", "c"])
    assert len(compiles) == 1 and len(os.listdir(cache_dir)) == 1
    from gcheap.interp.image import encode
    assert second == encode(compiler.compile_file(str(p)), [str(p), "b", "c"])
    assert first != second


def test_an_edited_program_or_library_module_is_compiled_again(tmp_path, cache_dir, compiles, monkeypatch):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "helper.py").write_text("X = 1\n")
    monkeypatch.setattr(compiler, "LIB_DIR", str(lib))
    p = tmp_path / "p.py"
    p.write_text("import helper\nprint(helper.X)\n")
    program_image(str(p), [str(p)])
    program_image(str(p), [str(p)])
    assert len(compiles) == 1
    (lib / "helper.py").write_text("X = 2\n")
    program_image(str(p), [str(p)])
    assert len(compiles) == 2
    p.write_text("import helper\nprint(helper.X + 1)\n")
    program_image(str(p), [str(p)])
    assert len(compiles) == 3


def test_no_cache_and_damaged_entries_mean_compiling(tmp_path, cache_dir, compiles, monkeypatch):
    p = tmp_path / "p.py"
    p.write_text("print(1)\n")
    program_image(str(p), [str(p)])
    for entry in cache_dir.iterdir():
        entry.write_bytes(b"GCC1\xff")
    program_image(str(p), [str(p)])
    assert len(compiles) == 2
    monkeypatch.setenv("GCHEAP_NO_CACHE", "1")
    program_image(str(p), [str(p)])
    program_image(str(p), [str(p)])
    assert len(compiles) == 4


def test_programs_outside_the_subset_are_not_cached(tmp_path, cache_dir):
    from gcheap.errors import SubsetError
    p = tmp_path / "p.py"
    p.write_text("async def f():\n    pass\n")
    for _ in range(2):
        with pytest.raises(SubsetError):
            program_image(str(p), [str(p)])
    assert not cache_dir.exists() or not os.listdir(cache_dir)


def test_the_front_end_key_covers_the_library_listing():
    assert len(cache._front_end()) == 32
