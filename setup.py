# cffi_modules has no pyproject.toml spelling yet; everything else lives in pyproject.toml.
# pyrun-oci is a plain script rather than a console_scripts entry: pip's entry-point template
# imports `re` (and `enum`), ~5 ms of every container start.
from setuptools import setup

setup(cffi_modules=["native/build_native.py:ffibuilder"], scripts=["scripts/pyrun-oci"])
