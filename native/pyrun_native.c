/* Thin wrappers for runtime._native (see build_native.py). Each returns -1 and leaves errno set
 * on failure, like the libc call it stands for. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct pyrun_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

static int pyrun_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

static int pyrun_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                         uint64_t resolve)
{
    struct pyrun_open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static int pyrun_bpf(int cmd, void *attr, unsigned int size)
{
    return (int)syscall(SYS_bpf, cmd, attr, size);
}

static int pyrun_prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
                       unsigned long arg5)
{
    return prctl(option, arg2, arg3, arg4, arg5);
}

/* seccomp(2) has no glibc wrapper; the filter program is passed as a struct sock_fprog. */
struct pyrun_sock_fprog {
    unsigned short len;
    void *filter;
};

static int pyrun_seccomp_filter(unsigned int flags, void *insns, unsigned int count)
{
    struct pyrun_sock_fprog prog;
    prog.len = (unsigned short)count;
    prog.filter = insns;
    return (int)syscall(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, flags, &prog);
}

/* SECCOMP_SET_MODE_FILTER with a NULL program: EFAULT if the kernel knows the flags, EINVAL
 * if not (how runc and crun probe them). */
static int pyrun_seccomp_probe_flags(unsigned int flags)
{
    return (int)syscall(SYS_seccomp, 1, flags, NULL);
}

static long pyrun_keyctl(int cmd, unsigned long a2, unsigned long a3, unsigned long a4,
                         unsigned long a5)
{
    return syscall(SYS_keyctl, cmd, a2, a3, a4, a5);
}

static int pyrun_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                           unsigned int flags)
{
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442 /* the same number on every architecture (Linux 5.12) */
#endif

struct pyrun_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static int pyrun_mount_setattr(int dirfd, const char *path, unsigned int flags,
                               uint64_t attr_set, uint64_t attr_clr)
{
    struct pyrun_mount_attr attr = {.attr_set = attr_set, .attr_clr = attr_clr};
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof(attr));
}

#ifndef SYS_close_range
#define SYS_close_range 436 /* the same number on every architecture (Linux 5.9) */
#endif

static int pyrun_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
    return (int)syscall(SYS_close_range, first, last, flags);
}

#ifndef SYS_open_tree
#define SYS_open_tree 428 /* the same number on every architecture (Linux 5.2) */
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif

static int pyrun_open_tree(int dirfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

static int pyrun_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                            const char *to_path, unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}
