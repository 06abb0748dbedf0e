"""cffi builder for runtime._seccomp: libseccomp, the library runc, crun and podman compile
seccomp filters with.

A module of its own, apart from runtime._native, because only a cache miss needs it: a start
whose profile was compiled before installs the kept program with seccomp(2) (runtime._native)
and never loads libseccomp. Needs Debian's libseccomp-dev to build (scripts/setup).
"""
from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef(
    """
    typedef void *scmp_filter_ctx;
    typedef uint64_t scmp_datum_t;
    struct scmp_arg_cmp {
        unsigned int arg;
        int op;
        scmp_datum_t datum_a;
        scmp_datum_t datum_b;
    };
    struct scmp_version {
        unsigned int major;
        unsigned int minor;
        unsigned int micro;
    };
    const struct scmp_version *seccomp_version(void);
    unsigned int seccomp_api_get(void);
    scmp_filter_ctx seccomp_init(uint32_t def_action);
    void seccomp_release(scmp_filter_ctx ctx);
    uint32_t seccomp_arch_resolve_name(const char *arch_name);
    uint32_t seccomp_arch_native(void);
    int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
    int seccomp_arch_remove(scmp_filter_ctx ctx, uint32_t arch_token);
    int seccomp_attr_set(scmp_filter_ctx ctx, int attr, uint32_t value);
    int seccomp_syscall_resolve_name(const char *name);
    int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name);
    int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                               unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array);
    int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);
    """
)
ffibuilder.set_source("runtime._seccomp", "#include <seccomp.h>", libraries=["seccomp"])

if __name__ == "__main__":
    import pathlib
    ffibuilder.compile(tmpdir=str(pathlib.Path(__file__).resolve().parent.parent), verbose=True)
