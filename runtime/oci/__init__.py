"""pyrun-oci: the OCI runtime (runc's command line) that the engine and the builder call."""


def binary() -> str:
    """The pyrun-oci command: the one installed next to this interpreter (the venv's), else
    the first on PATH."""
    import os
    import sys
    here = os.path.join(os.path.dirname(sys.executable), "pyrun-oci")
    if os.path.exists(here):
        return here
    import shutil
    found = shutil.which("pyrun-oci")
    if found is None:
        from runtime.errors import PyrunError
        raise PyrunError("pyrun-oci not found (run scripts/setup)")
    return found
