# The C core is built by cffi in out-of-line API mode from csrc/ (see csrc/cffi_build.py).
from setuptools import setup

setup(cffi_modules=["csrc/cffi_build.py:ffibuilder"])
