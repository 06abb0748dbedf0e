"""cffi builder for runtime._native: the Linux syscalls that Python 3.11 does not expose.

Run by setuptools at install time (setup.py: cffi_modules) or by hand:
    python native/build_native.py
Only thin wrappers live here; everything that decides *what* to call lives in
runtime/linux/syscalls.py, which turns errno into OSError.
"""
import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent

ffibuilder = FFI()
ffibuilder.cdef(
    """
    int unshare(int flags);
    int setns(int fd, int nstype);
    int mount(const char *source, const char *target, const char *fstype,
              unsigned long flags, const void *data);
    int umount2(const char *target, int flags);
    int sethostname(const char *name, size_t len);
    int setdomainname(const char *name, size_t len);
    int pyrun_pivot_root(const char *new_root, const char *put_old);
    int pyrun_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                      uint64_t resolve);
    int pyrun_prctl(int option, unsigned long arg2, unsigned long arg3,
                    unsigned long arg4, unsigned long arg5);
    int pyrun_bpf(int cmd, void *attr, unsigned int size);
    int pyrun_seccomp_filter(unsigned int flags, void *insns, unsigned int count);
    int pyrun_seccomp_probe_flags(unsigned int flags);
    long pyrun_keyctl(int cmd, unsigned long a2, unsigned long a3, unsigned long a4,
                      unsigned long a5);
    int pyrun_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                        unsigned int flags);
    int pyrun_open_tree(int dirfd, const char *path, unsigned int flags);
    int pyrun_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                         const char *to_path, unsigned int flags);
    int pyrun_close_range(unsigned int first, unsigned int last, unsigned int flags);
    int pyrun_mount_setattr(int dirfd, const char *path, unsigned int flags,
                            uint64_t attr_set, uint64_t attr_clr);
    """
)
ffibuilder.set_source(
    "runtime._native",
    (HERE / "pyrun_native.c").read_text(),
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(HERE.parent), verbose=True)
