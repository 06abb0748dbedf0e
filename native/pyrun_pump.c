/* pyrun-pump: the resident part of a detached container's monitor (runtime/engine/pump.py
 * does the same in Python, for when this binary is not built).
 *
 *   pyrun-pump PYTHON ROOT ID PID LOG OUT_FD ERR_FD [MAX_SIZE MAX_FILE [IN_FD]]
 *
 * Exec'd by the monitor once the container runs: it keeps the monitor's pid, its subreaper
 * flag and the pipes. Copies each pipe to LOG as Docker's json-file lines, reaps every
 * child, and when the container's init PID has exited and the pipes are drained, execs
 * `PYTHON -m runtime.engine.monitor --finish ROOT ID CODE` to record the exit and undo
 * networking and mounts. A C process here costs a fraction of an interpreter's memory.
 * Past MAX_SIZE bytes LOG becomes LOG.1 (LOG.1 becomes LOG.2, ...; the last of MAX_FILE
 * goes) and a new LOG starts: json-file's --log-opt rotation, as pump.py's LogFile.
 * IN_FD (a container with a terminal, attached through the API): what is read there is
 * written to OUT_FD, the terminal's master side, without ever blocking on it (a container
 * that reads nothing must not stop its output from being logged). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;
static const char *log_path;
static long long log_size, max_size; /* max_size 0: no rotation */
static int max_file = 1;

static void open_log(int extra_flags)
{
    log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | extra_flags, 0640);
    struct stat st;
    log_size = log_fd >= 0 && fstat(log_fd, &st) == 0 ? st.st_size : 0;
}

static void rotate(void)
{
    char from[4096], to[4096];
    close(log_fd);
    if (max_file <= 1) {
        open_log(O_TRUNC);
        return;
    }
    for (int i = max_file - 1; i >= 1; i--) {
        if (i == 1)
            snprintf(from, sizeof from, "%s", log_path);
        else
            snprintf(from, sizeof from, "%s.%d", log_path, i - 1);
        snprintf(to, sizeof to, "%s.%d", log_path, i);
        rename(from, to); /* ENOENT: fewer files so far */
    }
    open_log(0);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* One json-file record: {"log":"...","stream":"stdout","time":"...Z"} */
static void log_record(const char *stream, const unsigned char *data, size_t n)
{
    static char buf[65536 * 6 + 256];
    size_t o = 0;
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "{\"log\":\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = data[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c == '\r') {
            buf[o++] = '\\';
            buf[o++] = 'r';
        } else if (c == '\t') {
            buf[o++] = '\\';
            buf[o++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\u%04x", c);
        } else {
            buf[o++] = (char)c;  /* UTF-8 passes through as it came */
        }
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    o += (size_t)snprintf(buf + o, sizeof(buf) - o,
                          "\",\"stream\":\"%s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\"}\n",
                          stream, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                          tm.tm_min, tm.tm_sec, ts.tv_nsec);
    write_all(log_fd, buf, o);
    log_size += (long long)o;
    if (max_size > 0 && log_size >= max_size)
        rotate();
}

/* A record per line, as Docker's json-file (rotation and --tail count records); a piece
 * without its newline is a record of its own. */
static void log_lines(const char *stream, const unsigned char *data, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\n') {
            log_record(stream, data + start, i + 1 - start);
            start = i + 1;
        }
    }
    if (start < n)
        log_record(stream, data + start, n - start);
}

int main(int argc, char **argv)
{
    if (argc != 8 && argc != 10 && argc != 11) {
        fprintf(stderr, "usage: pyrun-pump PYTHON ROOT ID PID LOG OUT_FD ERR_FD "
                        "[MAX_SIZE MAX_FILE [IN_FD]]\n");
        return 2;
    }
    if (argc >= 10) {
        max_size = atoll(argv[8]);
        max_file = atoi(argv[9]);
    }
    int in_fd = argc == 11 ? atoi(argv[10]) : -1;
    int term_fd = atoi(argv[6]);
    const char *python = argv[1], *root = argv[2], *id = argv[3];
    pid_t pid = (pid_t)atoi(argv[4]);
    log_path = argv[5];
    open_log(0);
    struct pollfd fds[3];
    const char *names[2] = {"stdout", "stderr"};
    int nfds = 0;
    /* Input waiting for room in the terminal: nothing more is read from IN_FD meanwhile. */
    static unsigned char pending[4096];
    size_t pending_at = 0, pending_n = 0;
    if (in_fd >= 0 && term_fd >= 0)
        fcntl(term_fd, F_SETFL, fcntl(term_fd, F_GETFL) | O_NONBLOCK);
    else
        in_fd = -1;
    for (int i = 0; i < 2; i++) {
        int fd = atoi(argv[6 + i]);
        if (fd >= 0) {
            fds[nfds].fd = fd;
            fds[nfds].events = POLLIN;
            names[nfds] = i == 0 ? "stdout" : "stderr";
            nfds++;
        }
    }
    int code = -1, open_fds = nfds;
    time_t gone_at = 0;
    unsigned char data[65536];
    while (open_fds > 0 || code < 0) {
        if (open_fds > 0) {
            /* fds[nfds]: the input while there is none pending, else the terminal's room */
            fds[nfds].fd = pending_n ? term_fd : in_fd;
            fds[nfds].events = pending_n ? POLLOUT : POLLIN;
            fds[nfds].revents = 0;
            int r = poll(fds, (nfds_t)nfds + 1, 500);
            /* The init has gone and nothing came for half a second, or two seconds have
             * passed since: what still holds the pipes is a process outside a pid
             * namespace of the container's own (--pid host), which the runtime's delete
             * kills; waiting for it could never end. */
            if (code >= 0 && (r == 0 || time(NULL) - gone_at > 2))
                break;
            if (r > 0 && fds[nfds].fd >= 0 && fds[nfds].revents) {
                if (!pending_n) {
                    ssize_t n = read(in_fd, pending, sizeof(pending));
                    if (n > 0) {
                        pending_at = 0;
                        pending_n = (size_t)n;
                    } else if (n == 0 || errno != EINTR) {
                        close(in_fd);  /* the client's end of input: a terminal gets none */
                        in_fd = -1;
                    }
                }
                if (pending_n) {
                    ssize_t w = write(term_fd, pending + pending_at, pending_n);
                    if (w > 0) {
                        pending_at += (size_t)w;
                        pending_n -= (size_t)w;
                    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                        pending_n = 0;  /* the terminal is gone: its output ends too */
                    }
                }
            }
            for (int i = 0; r > 0 && i < nfds; i++) {
                if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                ssize_t n = read(fds[i].fd, data, sizeof(data));
                if (n <= 0) {  /* end of file, or EIO from a pty whose other side closed */
                    if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                    if (fds[i].fd == term_fd) {  /* no terminal left to write to */
                        term_fd = -1;
                        pending_n = 0;
                        if (in_fd >= 0)
                            close(in_fd);
                        in_fd = -1;
                    }
                    close(fds[i].fd);
                    fds[i].fd = -1;
                    open_fds--;
                    continue;
                }
                if (log_fd >= 0)
                    log_lines(names[i], data, (size_t)n);
            }
        } else {
            usleep(200000);
        }
        for (;;) {
            int status;
            pid_t w = waitpid(-1, &status, WNOHANG);
            if (w < 0) {
                if (errno == ECHILD && code < 0)
                    code = 0;
                break;
            }
            if (w == 0)
                break;
            if (w == pid) {
                code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                gone_at = time(NULL);
            }
        }
    }
    for (int i = 0; i < nfds; i++)  /* left open by an early end (above) */
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    if (in_fd >= 0)
        close(in_fd);
    if (log_fd >= 0)
        close(log_fd);
    char code_s[16];
    snprintf(code_s, sizeof(code_s), "%d", code);
    execl(python, python, "-m", "runtime.engine.monitor", "--finish", root, id, code_s,
          (char *)NULL);
    perror("pyrun-pump: exec the monitor");
    return 125;
}
