# The C core is built by cffi in out-of-line API mode from csrc/ (see csrc/cffi_build.py);
# the test and benchmark support (csrc/testing) is a static library linked into it.
import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc"))
from cffi_build import testing_library  # noqa: E402

setup(cffi_modules=["csrc/cffi_build.py:ffibuilder"], libraries=[testing_library()])
