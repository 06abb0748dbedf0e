/* pyrun-oci's start, kill and delete in C, for their plain cases.
 *
 * To stop and remove one container containerd's shim runs the runtime five times (kill, kill
 * --all twice, delete, delete --force), and twice more to start a pod; a Python interpreter
 * alone takes about twice what runc takes for the whole command (`scripts/bench cri` and
 * runtime-start in BENCHMARKS.md). These verbs are small: read the state, check that the init
 * is still the process create made, then signal it, or tell it to go, or remove its cgroup
 * and its state.
 *
 * oci_fast() does them when the container's state dir has native.txt (runtime/oci/state.py
 * writes it when no hook has to run) and returns NOT_HANDLED for everything else: other
 * commands, options it does not know, an unusual state, any error. It declines before it has
 * changed anything, or where repeating what it did is harmless (an rmdir that failed), so
 * runtime/oci/ does that case from the start and reports any error as ever. One exception: a
 * start whose init reports a failure after it was told to go is reported here, as Python's
 * cli does (runtime/oci/log.py's format). PYRUN_OCI_NATIVE=0 turns this off. */
#define _GNU_SOURCE
#include "oci_fast.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <signal.h>

#define MAX_DIRS 64
#define MAX_GROUPS 16

struct options {
    const char *root, *log, *log_format;
    int log_fd;
};

/* native.txt, parsed in place: the strings point into buf. */
struct view {
    long pid;
    unsigned long long start;
    const char *procs, *freezer;
    int ngroups;
    int group_start[MAX_GROUPS + 1]; /* indexes into dirs; group g is [start[g], start[g+1]) */
    const char *dirs[MAX_DIRS];
    char buf[32768];
};

static int read_all(int fd, char *buf, size_t size, size_t *len)
{
    *len = 0;
    for (;;) {
        if (*len == size)
            return -1; /* too big for us: decline */
        ssize_t n = read(fd, buf + *len, size - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        *len += n;
    }
}

static int read_view(int dirfd, struct view *v)
{
    int fd = openat(dirfd, "native.txt", O_RDONLY | O_CLOEXEC);
    size_t len;
    if (fd < 0)
        return -1;
    int r = read_all(fd, v->buf, sizeof v->buf - 1, &len);
    close(fd);
    if (r < 0)
        return -1;
    v->buf[len] = '\0';
    v->pid = 0;
    v->start = 0;
    v->procs = v->freezer = NULL;
    v->ngroups = 0;
    int ndirs = 0;
    for (char *line = v->buf, *next; *line; line = next) {
        next = strchr(line, '\n');
        if (!next)
            return -1; /* cut short */
        *next++ = '\0';
        char *value = strchr(line, ' ');
        if (value)
            *value++ = '\0';
        if (strcmp(line, "group") == 0) {
            if (v->ngroups == MAX_GROUPS)
                return -1;
            v->group_start[v->ngroups++] = ndirs;
        } else if (!value) {
            return -1;
        } else if (strcmp(line, "pid") == 0) {
            v->pid = strtol(value, NULL, 10);
        } else if (strcmp(line, "start") == 0) {
            v->start = strtoull(value, NULL, 10);
        } else if (strcmp(line, "procs") == 0) {
            v->procs = value;
        } else if (strcmp(line, "freezer") == 0) {
            v->freezer = value;
        } else if (strcmp(line, "dir") == 0) {
            if (v->ngroups == 0 || ndirs == MAX_DIRS)
                return -1;
            v->dirs[ndirs++] = value;
        } /* other keys: from a newer pyrun, not needed here */
    }
    v->group_start[v->ngroups] = ndirs;
    return v->pid > 0 && v->procs ? 0 : -1;
}

/* The same process create made (pid and start time: pids are reused), and not a zombie:
 * runtime/oci/state.py's process_alive. */
static int process_alive(long pid, unsigned long long start)
{
    char path[64], buf[1024];
    size_t len;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int r = read_all(fd, buf, sizeof buf - 1, &len);
    close(fd);
    if (r < 0)
        return 0;
    buf[len] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
    if (!p || p[1] != ' ')
        return 0;
    char state = p[2];
    p += 2;
    for (int field = 0; field < 19; field++) { /* state is field 0, starttime field 19 */
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    return strtoull(p, NULL, 10) == start && state != 'Z' && state != 'X';
}

/* The pids in a cgroup.procs file: their count (a missing file has none), -1 on error. */
static int read_pids(const char *path, long *pids, int max)
{
    static char buf[65536];
    size_t len;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    int r = read_all(fd, buf, sizeof buf - 1, &len);
    close(fd);
    if (r < 0)
        return -1;
    buf[len] = '\0';
    int n = 0;
    for (char *p = buf, *end; *p; p = end) {
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (n == max)
            return -1;
        pids[n++] = pid;
    }
    return n;
}

/* runtime/oci/log.py's error line, and cli.py's _report: the log (containerd shows its last
 * error line) and, for a person, stderr. raw_json is the message as a JSON string's content
 * (already escaped), text the same decoded. */
static void report(const struct options *o, const char *text, const char *raw_json)
{
    char now[64], line[8192];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(now + k, sizeof now - k, ".%09ldZ", ts.tv_nsec);
    int json = o->log_format && strcmp(o->log_format, "json") == 0;
    if (json)
        snprintf(line, sizeof line, "{\"level\": \"error\", \"msg\": \"%s\", \"time\": \"%s\"}\n",
                 raw_json, now);
    else if (o->log_fd >= 0)
        snprintf(line, sizeof line, "time=\"%s\" level=error msg=\"%s\"\n", now, text);
    else
        snprintf(line, sizeof line, "pyrun-oci: error: %s\n", text);
    if (write(o->log_fd >= 0 ? o->log_fd : 2, line, strlen(line)) < 0) {
        /* nowhere left to say it: the exit code still tells */
    }
    if (o->log_fd >= 0) {
        snprintf(line, sizeof line, "pyrun-oci: %s\n", text);
        if (write(2, line, strlen(line)) < 0) {
        }
    }
}

static void put_utf8(char **out, unsigned cp)
{
    char *p = *out;
    if (cp < 0x80) {
        *p++ = cp;
    } else if (cp < 0x800) {
        *p++ = 0xc0 | cp >> 6;
        *p++ = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
        *p++ = 0xe0 | cp >> 12;
        *p++ = 0x80 | (cp >> 6 & 0x3f);
        *p++ = 0x80 | (cp & 0x3f);
    } else {
        *p++ = 0xf0 | cp >> 18;
        *p++ = 0x80 | (cp >> 12 & 0x3f);
        *p++ = 0x80 | (cp >> 6 & 0x3f);
        *p++ = 0x80 | (cp & 0x3f);
    }
    *out = p;
}

/* The string value of "key" in one line of runtime/oci/channel.py's JSON (ASCII, as
 * jsonfast writes it): raw gets the escaped content, text the decoded one. */
static int json_string(const char *line, const char *key, char *raw, char *text, size_t size)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\": \"", key);
    const char *p = strstr(line, pattern);
    if (!p)
        return -1;
    p += strlen(pattern);
    const char *end = p;
    while (*end && *end != '"')
        end += end[0] == '\\' && end[1] ? 2 : 1;
    if (*end != '"' || (size_t)(end - p) >= size / 4)
        return -1;
    memcpy(raw, p, end - p);
    raw[end - p] = '\0';
    char *out = text;
    while (p < end) {
        if (*p != '\\') {
            *out++ = *p++;
            continue;
        }
        char c = p[1];
        p += 2;
        switch (c) {
        case 'n': *out++ = '\n'; break;
        case 't': *out++ = '\t'; break;
        case 'r': *out++ = '\r'; break;
        case 'b': *out++ = '\b'; break;
        case 'f': *out++ = '\f'; break;
        case 'u': {
            unsigned cp = 0;
            if (sscanf(p, "%4x", &cp) != 1)
                return -1;
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = 0;
                if (sscanf(p + 2, "%4x", &lo) == 1 && lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            put_utf8(&out, cp);
            break;
        }
        default: *out++ = c; /* \" \\ \/ */
        }
    }
    *out = '\0';
    return 0;
}

static int lock_container(const struct options *o, const char *id, int *dirfd)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", o->root, id);
    *dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dirfd < 0)
        return -1;
    if (flock(*dirfd, LOCK_EX) < 0 || faccessat(*dirfd, "state.json", F_OK, 0) < 0) {
        close(*dirfd);
        return -1;
    }
    return 0;
}

static int do_start(const struct options *o, const char *id)
{
    static struct view v;
    int dirfd;
    if (lock_container(o, id, &dirfd) < 0)
        return NOT_HANDLED;
    if (read_view(dirfd, &v) < 0 || !process_alive(v.pid, v.start) ||
        faccessat(dirfd, "start.sock", F_OK, 0) < 0 || fchdir(dirfd) < 0)
        return NOT_HANDLED; /* not "created", or unknown: Python says which */
    /* connected by a short relative name: sun_path is 108 bytes */
    struct sockaddr_un addr = {.sun_family = AF_UNIX, .sun_path = "start.sock"};
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    static const char go[] = "{\"type\": \"Continue\"}\n";
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        send(sock, go, sizeof go - 1, MSG_NOSIGNAL) != sizeof go - 1)
        return NOT_HANDLED; /* nothing reached the init */
    unlinkat(dirfd, "start.sock", 0);
    /* end-of-file: the init has exec'd the program; a line: it failed to */
    static char reply[16384];
    size_t len;
    if (read_all(sock, reply, sizeof reply - 1, &len) < 0)
        len = 0;
    reply[len] = '\0';
    if (len == 0)
        return 0;
    static char raw[sizeof reply], text[sizeof reply * 2];
    if (strstr(reply, "\"type\": \"Failed\"") && json_string(reply, "message", raw, text,
                                                              sizeof text) == 0) {
        report(o, text, raw);
    } else {
        snprintf(text, sizeof text, "start %s: unexpected message from container init", id);
        report(o, text, text);
    }
    return 1;
}

static int do_kill(const struct options *o, const char *id, int sig, int all)
{
    static struct view v;
    static long pids[8192];
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", o->root, id);
    int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0 || faccessat(dirfd, "state.json", F_OK, 0) < 0 || read_view(dirfd, &v) < 0)
        return NOT_HANDLED;
    if (!all) {
        if (!process_alive(v.pid, v.start) || kill(v.pid, sig) < 0)
            return NOT_HANDLED; /* "container not running": Python words it */
        return 0;
    }
    /* Also after the init has exited, as runc: in a pod sharing one pid namespace its
     * children live on until this. No processes left is no error. */
    int n = read_pids(v.procs, pids, sizeof pids / sizeof *pids);
    if (n < 0)
        return NOT_HANDLED;
    for (int i = 0; i < n; i++)
        kill(pids[i], sig); /* ESRCH: gone meanwhile */
    return 0;
}

static void remove_empty_pyrun_parents(char *path)
{
    for (;;) {
        char *slash = strrchr(path, '/');
        if (!slash || strncmp(slash + 1, "pyrun", 5) != 0 || rmdir(path) < 0)
            return;
        *slash = '\0';
    }
}

/* runtime/linux/cgroups remove_dirs, for each group: innermost first; a busy parent is
 * shared with another container and stays. -1 when the leaf itself cannot go. */
static int remove_groups(const struct view *v)
{
    for (int g = 0; g < v->ngroups; g++) {
        int first = v->group_start[g], last = v->group_start[g + 1] - 1, busy = 0;
        for (int i = last; i >= first && !busy; i--) {
            if (rmdir(v->dirs[i]) == 0 || errno == ENOENT)
                continue;
            if (i == last)
                return -1;
            busy = 1;
        }
        if (!busy && last >= first) {
            char parent[PATH_MAX];
            snprintf(parent, sizeof parent, "%s", v->dirs[first]);
            char *slash = strrchr(parent, '/');
            if (slash) {
                *slash = '\0';
                remove_empty_pyrun_parents(parent);
            }
        }
    }
    return 0;
}

static int remove_tree(int dirfd)
{
    DIR *d = fdopendir(dirfd);
    if (!d)
        return -1;
    struct dirent *e;
    int failed = 0;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd, e->d_name, 0) == 0 || errno == ENOENT)
            continue;
        if (errno != EISDIR) {
            failed = 1;
            continue;
        }
        int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0 || remove_tree(sub) < 0 || unlinkat(dirfd, e->d_name, AT_REMOVEDIR) < 0)
            failed = 1;
    }
    closedir(d);
    return failed ? -1 : 0;
}

static int do_delete(const struct options *o, const char *id, int force)
{
    static struct view v;
    static long pids[16];
    int dirfd;
    if (lock_container(o, id, &dirfd) < 0) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", o->root, id);
        /* delete --force of what does not exist succeeds, as runc's */
        return force && access(path, F_OK) < 0 && errno == ENOENT ? 0 : NOT_HANDLED;
    }
    if (read_view(dirfd, &v) < 0 || process_alive(v.pid, v.start) ||
        read_pids(v.procs, pids, 16) != 0 || remove_groups(&v) < 0)
        return NOT_HANDLED; /* processes to kill, or a cgroup that will not go */
    int fd = dup(dirfd); /* fdopendir takes one; the lock stays on dirfd until exit */
    if (fd < 0 || remove_tree(fd) < 0) {
        char text[PATH_MAX + 64];
        snprintf(text, sizeof text, "remove state of %s: %s", id, strerror(errno));
        report(o, text, text);
        return 1;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", o->root, id);
    rmdir(path);
    return 0;
}

/* Go's flag forms: -name or --name, "=value" or the next argument. */
static const char *flag_name(const char *arg, char *name, size_t size, const char **value)
{
    const char *p = arg + (arg[1] == '-' ? 2 : 1);
    const char *eq = strchr(p, '=');
    size_t n = eq ? (size_t)(eq - p) : strlen(p);
    if (n >= size)
        n = size - 1;
    memcpy(name, p, n);
    name[n] = '\0';
    *value = eq ? eq + 1 : NULL;
    return name;
}

static int valid_id(const char *id)
{
    if (!*id || strlen(id) > 1024 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return 0;
    for (const char *p = id; *p; p++)
        if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
              ('0' <= *p && *p <= '9') || strchr("._-+", *p)))
            return 0;
    return 1;
}

int oci_fast(int argc, char **argv)
{
    const char *off = getenv("PYRUN_OCI_NATIVE");
    if (off && strcmp(off, "0") == 0)
        return NOT_HANDLED;
    struct options o = {.root = getenv("PYRUN_OCI_ROOT"), .log_fd = -1};
    char name[32];
    const char *value;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        flag_name(argv[i], name, sizeof name, &value);
        const char **slot = strcmp(name, "root") == 0 ? &o.root
            : strcmp(name, "log") == 0 ? &o.log
            : strcmp(name, "log-format") == 0 ? &o.log_format : NULL;
        if (!slot)
            return NOT_HANDLED; /* --debug, --help, --systemd-cgroup, ...: Python's */
        if (!value && ++i == argc)
            return NOT_HANDLED;
        *slot = value ? value : argv[i];
    }
    if (i == argc)
        return NOT_HANDLED;
    const char *cmd = argv[i++];
    int all = 0, force = 0;
    int is_kill = strcmp(cmd, "kill") == 0, is_delete = strcmp(cmd, "delete") == 0;
    if (!is_kill && !is_delete && strcmp(cmd, "start") != 0)
        return NOT_HANDLED;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        flag_name(argv[i], name, sizeof name, &value);
        if (value)
            return NOT_HANDLED;
        if (is_kill && (strcmp(name, "all") == 0 || strcmp(name, "a") == 0))
            all = 1;
        else if (is_delete && (strcmp(name, "force") == 0 || strcmp(name, "f") == 0))
            force = 1;
        else
            return NOT_HANDLED;
    }
    int positional = argc - i;
    if (positional < 1 || positional > (is_kill ? 2 : 1) || !valid_id(argv[i]))
        return NOT_HANDLED;
    int sig = 15;
    if (positional == 2) { /* numbers only: names are Python's (runtime/oci/kill.py) */
        char *end;
        long n = strtol(argv[i + 1], &end, 10);
        if (*end || end == argv[i + 1] || n < 0 || n > 64)
            return NOT_HANDLED;
        sig = n;
    }
    if (o.log_format && strcmp(o.log_format, "json") != 0 && strcmp(o.log_format, "text") != 0)
        return NOT_HANDLED;
    if (!o.root || !*o.root)
        o.root = "/run/pyrun-oci";
    if (o.log) { /* opened in the caller's directory, as Python's log.configure */
        o.log_fd = open(o.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (o.log_fd < 0)
            return NOT_HANDLED;
    }
    if (is_kill)
        return do_kill(&o, argv[i], sig, all);
    if (is_delete)
        return do_delete(&o, argv[i], force);
    return do_start(&o, argv[i]);
}
