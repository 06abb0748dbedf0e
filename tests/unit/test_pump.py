"""engine/pump.py, the Python pump (native/pyrun_pump.c does the same where it is built):
json-file records per line, rotation, the exit code of a child it reaps, and input copied
to a terminal without ever blocking on it. The "container" is a forked child of the test."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from runtime.engine.pump import LogFile, pump


def records(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def child(body, stdin=None, stdout=None, stderr=None) -> int:
    """A process running body() with the given descriptors as its stdio; its exit code is
    what body() returns."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
                if fd is not None:
                    os.dup2(fd, target)
            code = body()
        finally:
            os._exit(code)
    return pid


def test_each_line_is_a_record_of_its_stream_and_the_exit_code_comes_back(tmp_path):
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()

    def body():
        os.write(1, b"one\ntwo\n")
        os.write(2, b"oops\n")
        os.write(1, "no newline \u00e9".encode())
        return 3
    pid = child(body, stdout=out_w, stderr=err_w)
    os.close(out_w)
    os.close(err_w)
    log = LogFile(str(tmp_path / "container.log"))
    assert pump(pid, log, {out_r: "stdout", err_r: "stderr"}) == 3
    log.close()
    got = records(tmp_path / "container.log")
    assert [(r["stream"], r["log"]) for r in got if r["stream"] == "stdout"] == \
        [("stdout", "one\n"), ("stdout", "two\n"), ("stdout", "no newline \u00e9")]
    assert [r["log"] for r in got if r["stream"] == "stderr"] == ["oops\n"]
    assert all(r["time"].endswith("Z") for r in got)


def test_a_signal_is_128_plus_its_number(tmp_path):
    out_r, out_w = os.pipe()

    def body():
        os.kill(os.getpid(), signal.SIGTERM)
        return 0
    pid = child(body, stdout=out_w)
    os.close(out_w)
    log = LogFile(str(tmp_path / "container.log"))
    assert pump(pid, log, {out_r: "stdout"}) == 128 + signal.SIGTERM


def test_rotation_keeps_at_most_max_file_files(tmp_path):
    path = str(tmp_path / "container.log")
    log = LogFile(path, max_size=100, max_file=3)
    for i in range(20):
        log.write(b'{"log":"%02d-------------------------------------"}\n' % i)
    log.close()
    assert sorted(os.listdir(tmp_path)) == ["container.log", "container.log.1",
                                            "container.log.2"]
    def numbers(name):  # 51 bytes a record, past 100 a rotation: two records a file
        with open(name) as f:
            return [json.loads(x)["log"][:2] for x in f]
    assert (numbers(path), numbers(path + ".1"), numbers(path + ".2")) == \
        ([], ["18", "19"], ["16", "17"])
    one = LogFile(str(tmp_path / "single.log"), max_size=10, max_file=1)
    one.write(b"0123456789abc\n")  # past the size: the file starts again, empty
    one.write(b"x\n")
    one.close()
    assert open(tmp_path / "single.log", "rb").read() == b"x\n"
    assert not os.path.exists(tmp_path / "single.log.1")


def test_input_goes_to_the_terminal_and_its_output_to_the_log(tmp_path):
    master, slave = os.openpty()
    in_r, in_w = os.pipe()

    def body():
        line = os.read(0, 100).decode().strip()
        os.write(1, f"got {line}\n".encode())
        return 0
    pid = child(body, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    os.write(in_w, b"hello\n")
    os.close(in_w)  # the client's end of input: the terminal is not closed for it
    log = LogFile(str(tmp_path / "container.log"))
    assert pump(pid, log, {master: "stdout"}, into=(in_r, master)) == 0
    text = "".join(r["log"] for r in records(tmp_path / "container.log"))
    assert "got hello" in text and text.startswith("hello")  # the terminal's echo first


def test_a_container_that_reads_nothing_does_not_hold_its_output_back(tmp_path):
    """More input than the terminal holds: the pump keeps logging and ends with the
    container, where a blocking write to the terminal would have stopped it for ever."""
    master, slave = os.openpty()
    in_r, in_w = os.pipe()

    def body():
        time.sleep(0.5)  # while the input piles up unread
        os.write(1, b"still here\n")
        return 7
    pid = child(body, stdout=slave, stderr=slave)
    os.close(slave)

    def flood():
        try:
            for _ in range(64):
                os.write(in_w, b"x" * 1023 + b"\n")
        except OSError:
            pass  # the pump has ended and closed its end
        finally:
            os.close(in_w)
    writer = threading.Thread(target=flood)
    writer.start()
    log = LogFile(str(tmp_path / "container.log"))
    assert pump(pid, log, {master: "stdout"}, into=(in_r, master)) == 7
    writer.join(10)
    assert not writer.is_alive()
    assert "still here" in "".join(r["log"] for r in records(tmp_path / "container.log"))


@pytest.fixture(autouse=True)
def no_leftover_children():
    yield
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@pytest.mark.parametrize("talks", [False, True])
def test_a_process_outside_the_inits_pid_namespace_does_not_hold_the_end(tmp_path, talks):
    """--pid host: the init's child outlives it and keeps the pipe; the pump ends all the
    same (half a second quiet, or two seconds on), and the runtime's delete kills the rest."""
    out_r, out_w = os.pipe()
    keeper_r, keeper_w = os.pipe()

    def body():
        grandchild = os.fork()
        if grandchild == 0:
            os.write(keeper_w, str(os.getpid()).encode())
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if talks:
                    os.write(1, b"still talking\n")
                time.sleep(0.05)
            os._exit(0)
        return 5
    pid = child(body, stdout=out_w)
    os.close(out_w)
    os.close(keeper_w)
    log = LogFile(str(tmp_path / "container.log"))
    keeper = int(os.read(keeper_r, 32))
    try:
        assert pump(pid, log, {out_r: "stdout"}) == 5
        os.kill(keeper, 0)  # still alive: the pump did not wait for it
    finally:
        os.kill(keeper, signal.SIGKILL)
        os.close(keeper_r)
