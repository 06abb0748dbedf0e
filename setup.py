# cffi_modules has no pyproject.toml spelling yet; everything else lives in pyproject.toml.
# pyrun and pyrun-oci are plain scripts rather than console_scripts entries: pip's
# entry-point template imports `re` (and `enum`), ~5 ms of every command.
# build_ext also compiles native/pyrun_init.c, statically, into runtime/_bin/pyrun-init (it
# runs inside any image), and native/pyrun_pump.c into runtime/_bin/pyrun-pump (on the host).
import os
import subprocess

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


class build_ext_and_init(build_ext):
    def run(self):
        super().run()
        out_dir = os.path.join(HERE, "runtime", "_bin")
        os.makedirs(out_dir, exist_ok=True)
        cc = os.environ.get("CC", "cc")
        subprocess.check_call([cc, "-static", "-O2", "-Wall", "-o",
                               os.path.join(out_dir, "pyrun-init"),
                               os.path.join(HERE, "native", "pyrun_init.c")])
        subprocess.check_call([cc, "-O2", "-Wall", "-o", os.path.join(out_dir, "pyrun-pump"),
                               os.path.join(HERE, "native", "pyrun_pump.c")])


setup(cffi_modules=["native/build_native.py:ffibuilder"],
      scripts=["scripts/pyrun", "scripts/pyrun-oci"],
      cmdclass={"build_ext": build_ext_and_init})
