/* pyrun-launch: the `pyrun` and `pyrun-oci` commands (setup.py installs it under both names).
 *
 * It runs the Python program next to it: PYTHON -I -S -c "import sys; sys.path += PATHS;
 * from MODULE import launch; launch()" ARGS..., where PYTHON is the python3 in the directory
 * of this executable (the venv's bin, through any symlink such as /usr/local/bin/pyrun-oci;
 * else the interpreter setup.py ran under, compiled in as PYRUN_PYTHON), MODULE is
 * runtime.cli.fast for `pyrun`, runtime.oci.cli for `pyrun-oci`, and PATHS what the site
 * module would have added (PYRUN_SYS_PATH, from setup.py). -I: the caller's working
 * directory (a bundle, for containerd) and PYTHON* variables do not decide what Python
 * imports; -S: no site module, whose .pth files cost more than the rest of a `kill`.
 *
 * pyrun-oci's start, kill and delete are done without Python where they are plain
 * (oci_fast.c says when and why).
 *
 * Before that, for the commands that move a process into a cgroup (a container start or an
 * exec), it warms the kernel's cgroup migration lock, as runtime/linux/cgroups warm_up does
 * from Python but some 8 ms sooner: the first move into a cgroup after a quiet moment waits
 * an RCU grace period (~15 ms here) while holding cgroup_mutex, and later moves within the
 * next grace period do not wait. A detached grandchild makes that first move (its own pid
 * into its own cgroup: nothing changes) while the interpreter starts. */
#define _GNU_SOURCE
#ifndef PYRUN_SYS_PATH
#define PYRUN_SYS_PATH "[]"
#endif
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oci_fast.h"

/* The verbs that start or enter a container; any argument spelled so warms the lock (a
 * false positive costs a move that changes nothing, in a process nobody waits for). */
static const char *const MOVING[] = {"run", "create", "exec", "start", "restart", NULL};

static int moves_a_process(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        for (const char *const *v = MOVING; *v; v++)
            if (strcmp(argv[i], *v) == 0)
                return 1;
    return 0;
}

/* Write our pid to cgroup.procs of the first hierarchy /proc/self/cgroup lists. */
static void move_into_own_cgroup(void)
{
    char line[PATH_MAX], path[PATH_MAX + 64];
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return;
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    if (!ok)
        return;
    line[strcspn(line, "\n")] = '\0';
    char *controllers = strchr(line, ':'); /* "ID:CONTROLLERS:PATH" */
    char *cgpath = controllers ? strchr(controllers + 1, ':') : NULL;
    if (!cgpath)
        return;
    *cgpath++ = '\0';
    controllers++;
    if (strcmp(cgpath, "/") == 0)
        cgpath = "";
    if (*controllers == '\0') { /* "0::/path": the unified hierarchy */
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/cgroup.procs", cgpath);
    } else {
        controllers[strcspn(controllers, ",")] = '\0';
        if (strncmp(controllers, "name=", 5) == 0)
            controllers += 5;
        snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/cgroup.procs", controllers, cgpath);
    }
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (write(fd, pid, n) < 0) {
        /* only an optimisation */
    }
    close(fd);
}

static void warm_cgroup_lock(void)
{
    pid_t child = fork();
    if (child < 0)
        return;
    if (child == 0) {
        /* Detach: the grandchild belongs to init (or the caller's subreaper), not to the
         * Python program that will wait for its own children. */
        if (fork() == 0) {
            int null = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (null >= 0) { /* hold none of our caller's pipes open */
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
            }
            move_into_own_cgroup();
        }
        _exit(0);
    }
    waitpid(child, NULL, 0);
}

int main(int argc, char **argv)
{
    char self[PATH_MAX], python[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) {
        perror("pyrun: readlink /proc/self/exe");
        return 125;
    }
    self[n] = '\0';
    const char *name = strrchr(argv[0], '/');
    name = name ? name + 1 : argv[0];
    int oci = strcmp(name, "pyrun-oci") == 0;
    if (oci) {
        int code = oci_fast(argc, argv);
        if (code != NOT_HANDLED)
            return code;
    }
    const char *module = oci ? "runtime.oci.cli" : "runtime.cli.fast";
    char code[8192];
    snprintf(code, sizeof code, "import sys; sys.path += %s; from %s import launch; launch()",
             PYRUN_SYS_PATH, module);
    snprintf(python, sizeof python, "%s/python3", dirname(self));
#ifdef PYRUN_PYTHON
    if (access(python, X_OK) != 0) /* not in a venv's bin: the interpreter that built us */
        snprintf(python, sizeof python, "%s", PYRUN_PYTHON);
#endif

    if (moves_a_process(argc, argv))
        warm_cgroup_lock();

    char **args = calloc(argc + 5, sizeof *args);
    if (!args)
        return 125;
    args[0] = python;
    args[1] = "-I";
    args[2] = "-S";
    args[3] = "-c";
    args[4] = code;
    for (int i = 1; i < argc; i++)
        args[i + 4] = argv[i];
    execv(python, args);
    fprintf(stderr, "pyrun: exec %s: %s\n", python, strerror(errno));
    return 127;
}
