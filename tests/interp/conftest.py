"""The interpreter's tests keep compiled program images in a temporary cache
directory (never the user's ~/.cache), shared by the processes they start."""
import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _image_cache(tmp_path_factory):
    old = os.environ.get("GCHEAP_CACHE_DIR")
    os.environ["GCHEAP_CACHE_DIR"] = str(tmp_path_factory.mktemp("image-cache"))
    yield
    if old is None:
        os.environ.pop("GCHEAP_CACHE_DIR", None)
    else:
        os.environ["GCHEAP_CACHE_DIR"] = old
