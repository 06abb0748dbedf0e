# cffi_modules has no pyproject.toml spelling yet; everything else lives in pyproject.toml.
# build_ext also compiles native/pyrun_init.c, statically, into runtime/_bin/pyrun-init (it
# runs inside any image), and native/pyrun_pump.c into runtime/_bin/pyrun-pump (on the host).
# The commands pyrun and pyrun-oci are native/pyrun_launch.c (with oci_fast.c), installed as
# scripts under both names, not console_scripts entries: pip's entry-point template imports `re` (and `enum`),
# ~5 ms of every command, and the launcher starts a container start's kernel wait (see
# there) before the interpreter does.
import os
import subprocess
import sys
import sysconfig

from setuptools import Distribution, setup
from setuptools.command.build_ext import build_ext

build_scripts = Distribution().get_command_class("build_scripts")  # setuptools has no module

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHERS = ["pyrun", "pyrun-oci"]


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


class build_launchers(build_scripts):
    """The scripts are the launcher, compiled under both command names (build_scripts itself
    would read them as Python text)."""

    def run(self):
        self.mkpath(self.build_dir)
        cc = os.environ.get("CC", "cc")
        # The launcher starts Python with -S (no site module: its .pth processing costs 4-8
        # ms of every command, BENCHMARKS.md's runtime-start), so it hands over the paths
        # site would add: this interpreter's site-packages, and the project for an
        # editable install (a missing entry is skipped by the import system).
        paths = list(dict.fromkeys([sysconfig.get_path("purelib"),
                                    sysconfig.get_path("platlib"), HERE]))
        defines = {"PYRUN_PYTHON": sys.executable, "PYRUN_SYS_PATH": repr(paths)}
        flags = [f'-D{k}="{c_escape(v)}"' for k, v in defines.items()]
        for name in LAUNCHERS:
            subprocess.check_call([cc, "-O2", "-Wall", *flags, "-o",
                                   os.path.join(self.build_dir, name),
                                   os.path.join(HERE, "native", "pyrun_launch.c"),
                                   os.path.join(HERE, "native", "oci_fast.c")])


def c_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


setup(cffi_modules=["native/build_native.py:ffibuilder",
                    "native/build_seccomp.py:ffibuilder"],
      scripts=LAUNCHERS,  # names only: build_launchers makes them
      cmdclass={"build_ext": build_ext_and_init, "build_scripts": build_launchers})
