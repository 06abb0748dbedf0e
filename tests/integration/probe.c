/* What root inside a container can do: one probe per argument, one line of output each,
 * "NAME ok" or "NAME ERRNO-NAME". Built static by the tests (gcc -static), so it runs in
 * any image. Used by tests/integration/test_isolation.py. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *name_of(int e)
{
    switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case ENOKEY: return "ENOKEY";
    case EKEYREVOKED: return "EKEYREVOKED";
    case ENODEV: return "ENODEV";
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "errno%d", e);
        return buf;
    }
    }
}

static void report(const char *what, long r)
{
    printf("%s %s\n", what, name_of(r < 0 ? errno : 0));
    fflush(stdout);
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    int r = write(fd, text, strlen(text)) < 0 ? -1 : 0;
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

/* In a new user + mount + pid namespace (what an unprivileged process can make for itself
 * when nothing forbids it), mount a new procfs: the kernel allows that only while a fully
 * visible procfs exists in the mount namespace. */
static int mount_proc_in_userns(void)
{
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* /dev: a tmpfs in every container, writable even over a read-only root */
        mkdir("/dev/pyrun-probe-proc", 0755);
        _exit(mount("proc", "/dev/pyrun-probe-proc", "proc", 0, NULL) < 0 ? errno : 0);
    }
    int status;
    waitpid(pid, &status, 0);
    errno = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
    return errno ? -1 : 0;
}

/* The cgroup limit lift: a user and cgroup namespace of its own, the v1 hierarchy mounted
 * there, and the container's own limit written. Reports the step that failed. */
static int lift(const char *controller, const char *file, const char *value)
{
    char path[256];
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) < 0) {
        printf("lift-%s unshare %s\n", controller, name_of(errno));
        return 1;
    }
    mkdir("/dev/pyrun-probe-cg", 0755);
    int v2 = mount("none", "/dev/pyrun-probe-cg", "cgroup", 0, controller) < 0;
    if (v2 && mount("none", "/dev/pyrun-probe-cg", "cgroup2", 0, NULL) < 0) {
        printf("lift-%s mount %s\n", controller, name_of(errno));
        return 1;
    }
    snprintf(path, sizeof path, "/dev/pyrun-probe-cg/%s", file);
    report(controller[0] == 'm' ? "lift-memory write" : "lift-write",
           write_file(path, value));
    return 0;
}

static volatile sig_atomic_t sigsys_seen;

static void on_sigsys(int sig)
{
    (void)sig;
    sigsys_seen = 1;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *p = argv[i];
        if (!strcmp(p, "status")) {
            FILE *f = fopen("/proc/self/status", "r");
            char line[256];
            while (f && fgets(line, sizeof line, f))
                if (!strncmp(line, "Seccomp:", 8))
                    printf("seccomp %s", line + 9 + strspn(line + 9, " \t"));
            if (f)
                fclose(f);
        } else if (!strcmp(p, "userns")) {
            pid_t pid = fork();  /* in a child: the caller keeps its namespaces */
            if (pid == 0)
                _exit(unshare(CLONE_NEWUSER) < 0 ? errno : 0);
            int status;
            waitpid(pid, &status, 0);
            errno = WEXITSTATUS(status);
            report("userns", errno ? -1 : 0);
        } else if (!strcmp(p, "keyctl")) {
            /* KEYCTL_GET_KEYRING_ID of the user keyring: uid 0's, the host root's */
            report("keyctl", syscall(SYS_keyctl, 0, -4, 0));
        } else if (!strcmp(p, "add_key")) {
            report("add_key", syscall(SYS_add_key, "user", "pyrun-probe", "x", 1, -4));
        } else if (!strncmp(p, "readkey=", 8)) {
            char buf[256] = {0};
            long r = syscall(SYS_keyctl, 11 /* KEYCTL_READ */, atol(p + 8), buf,
                             sizeof buf - 1);
            printf("readkey %s%s%s\n", name_of(r < 0 ? errno : 0), r < 0 ? "" : " ",
                   r < 0 ? "" : buf);
        } else if (!strcmp(p, "session")) {
            char buf[256] = {0};
            long r = syscall(SYS_keyctl, 6 /* KEYCTL_DESCRIBE */, -3, buf, sizeof buf - 1);
            printf("session %s\n", r < 0 ? name_of(errno) : buf);
        } else if (!strcmp(p, "perf")) {
            struct perf_event_attr attr;
            memset(&attr, 0, sizeof attr);
            attr.size = sizeof attr;
            attr.type = PERF_TYPE_SOFTWARE;
            attr.config = PERF_COUNT_SW_CPU_CLOCK;
            attr.exclude_kernel = 1;
            report("perf", syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
        } else if (!strcmp(p, "userfaultfd")) {
            report("userfaultfd", syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */));
        } else if (!strcmp(p, "personality")) {
            report("personality", syscall(SYS_personality, READ_IMPLIES_EXEC));
        } else if (!strcmp(p, "clone3")) {
            /* a bad size: the kernel says EINVAL, a filter says something else */
            report("clone3", syscall(435, NULL, 0));
        } else if (!strcmp(p, "newsyscall")) {
            report("newsyscall", syscall(1000, 0, 0, 0));
        } else if (!strcmp(p, "getppid")) {
            report("getppid", syscall(SYS_getppid));
        } else if (!strcmp(p, "ppid")) {
            long r = syscall(SYS_getppid);
            printf("ppid %ld\n", r < 0 ? -(long)errno : r);
        } else if (!strcmp(p, "trap-getppid")) {
            /* SCMP_ACT_TRAP delivers SIGSYS, which a handler may catch; KILL cannot be */
            signal(SIGSYS, on_sigsys);
            syscall(SYS_getppid);
            printf("sigsys %s\n", sigsys_seen ? "caught" : "not raised");
        } else if (!strcmp(p, "mountproc")) {
            report("mountproc", mount_proc_in_userns());
        } else if (!strcmp(p, "lift-memory")) {
            lift("memory", "memory.limit_in_bytes", "-1");
        } else if (!strcmp(p, "lift-pids")) {
            lift("pids", "pids.max", "max");
        } else if (!strncmp(p, "hog=", 4)) {
            size_t mib = (size_t)atol(p + 4);
            for (size_t n = 0; n < mib; n++) {
                char *m = malloc(1 << 20);
                if (!m)
                    break;
                memset(m, 1, 1 << 20);
            }
            printf("hog survived %zu MiB\n", mib);
        } else if (!strncmp(p, "sleep=", 6)) {
            sleep(atoi(p + 6));
        } else {
            fprintf(stderr, "probe: unknown probe %s\n", p);
            return 2;
        }
        fflush(stdout);
    }
    return 0;
}
