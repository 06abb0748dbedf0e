"""oci/console.py without root: `pyrun-oci run` of a terminal process in the foreground
relays between its own stdio and the pty the container sends, and ends with the process's
exit code (128+N for a signal), after what the process wrote last."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The relay's side in a process of its own (it reads fd 0 and writes fd 1): a stand-in for
# the container makes a pty, runs `program` on its slave and sends the master over a socket.
RELAY = textwrap.dedent("""
    import os, socket, subprocess, sys
    sys.path.insert(0, {project!r})
    from runtime.oci import console
    ours, theirs = socket.socketpair()
    master, slave = os.openpty()
    p = subprocess.Popen(["sh", "-c", {program!r}], stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True)
    os.close(slave)
    socket.send_fds(theirs, [b"pty"], [master])
    os.close(master)
    theirs.close()
    code = console.relay(ours, p.pid)
    sys.stderr.write(f"code {{code}}\\n")
""")


def relay(program: str, stdin: bytes) -> tuple[str, int]:
    p = subprocess.run([sys.executable, "-c", RELAY.format(project=PROJECT, program=program)],
                       input=stdin, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode(), int(p.stderr.decode().split()[-1])


def test_input_reaches_the_program_and_its_output_and_code_come_back():
    out, code = relay("read line; echo \"got $line\"; exit 5", b"hello\n")
    assert "got hello" in out and code == 5


def test_the_end_of_input_is_the_terminals_end_of_file():
    out, code = relay("cat > /dev/null; echo after-eof", b"")  # ^D ends cat's read
    assert "after-eof" in out and code == 0


def test_a_program_killed_by_a_signal_gives_128_plus_it():
    _, code = relay("kill -TERM $$", b"")
    assert code == 128 + 15


def test_what_the_program_wrote_last_is_not_lost():
    out, _ = relay("i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done", b"")
    assert "line-199" in out
