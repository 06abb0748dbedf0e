/* pyrun-init: a tiny PID 1 for `pyrun run --init` (the role tini plays for docker).
 *
 *   pyrun-init -- PROGRAM [ARGS...]
 *
 * Runs PROGRAM as its child, forwards the signals a container gets (TERM, INT, HUP, QUIT,
 * USR1, USR2, WINCH) to it, reaps every orphan reparented to it, and exits with the child's
 * status (128+n for signal n). Built static by setup.py, because it is bind-mounted into
 * images that may have no dynamic loader at all. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

int main(int argc, char **argv)
{
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--") == 0)
        first = 2;
    if (first >= argc) {
        fprintf(stderr, "usage: pyrun-init -- PROGRAM [ARGS...]\n");
        return 2;
    }
    sigset_t set, old;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
        sigaddset(&set, forwarded[i]);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);

    pid_t child = fork();
    if (child < 0) {
        perror("pyrun-init: fork");
        return 125;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        setpgid(0, 0);
        execvp(argv[first], argv + first);
        fprintf(stderr, "pyrun-init: exec %s: %s\n", argv[first], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig != SIGCHLD) {
            kill(child, sig);
            continue;
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid == child)
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
    }
}
