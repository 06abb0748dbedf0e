"""engine/stdin.py: a detached container's input FIFO, which its reader holds open for
writing too (no end of input, as Docker's open stdin), and attach's copy into it with
Docker's detach keys."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from runtime.engine import stdin
from runtime.errors import InvalidParameter


class _C:
    def __init__(self, d):
        self.dir = str(d)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)


def test_the_reader_sees_every_attach_and_never_an_end(tmp_path):
    c = _C(tmp_path)
    assert stdin.open_for_attach(c) is None  # no FIFO: started without -i
    reader = stdin.open_for_container(c)
    assert stat.S_ISFIFO(os.stat(tmp_path / "stdin").st_mode)
    assert stat.S_IMODE(os.stat(tmp_path / "stdin").st_mode) == 0o600
    for text in (b"first\n", b"second\n"):  # two attaches, one after the other
        w = stdin.open_for_attach(c)
        os.write(w, text)
        os.close(w)  # its end is not the container's
        assert os.read(reader, 100) == text
    os.set_blocking(reader, False)
    try:
        os.read(reader, 100)
        raise AssertionError("an end of input where none should be")
    except BlockingIOError:
        pass  # nothing to read, and no end: the container waits for the next attach
    again = stdin.open_for_container(c)  # a restart: the same FIFO
    os.close(again)
    os.close(reader)
    assert stdin.open_for_attach(c) is None  # ENXIO: no reader, the container has ended


def pipe_with(data: bytes):
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return r


def copied(data: bytes, detach_keys: bool):
    src = pipe_with(data)
    r, w = os.pipe()
    detached = stdin.copy(src, w, stdin.DETACH if detach_keys else None)
    os.close(w)
    out = os.read(r, 1 << 16)
    os.close(r)
    os.close(src)
    return detached, out


def test_ctrl_p_ctrl_q_detaches_with_a_terminal_and_what_came_before_is_written():
    assert copied(b"ls\r\x10\x11rest", detach_keys=True) == (True, b"ls\r")
    assert copied(b"a\x10b", detach_keys=True) == (False, b"a\x10b")  # ctrl-p alone: a key
    assert copied(b"ls\r\x10\x11", detach_keys=False) == (False, b"ls\r\x10\x11")


def test_the_detach_keys_are_found_across_two_reads():
    r, w = os.pipe()
    out_r, out_w = os.pipe()
    got = []
    t = threading.Thread(target=lambda: got.append(stdin.copy(r, out_w, stdin.DETACH)))
    t.start()
    os.write(w, b"x\x10")
    import time
    time.sleep(0.1)  # two reads
    os.write(w, b"\x11")
    t.join(5)
    assert got == [True] and os.read(out_r, 100) == b"x"
    for fd in (r, w, out_r, out_w):
        os.close(fd)


def test_a_container_gone_ends_the_copy():
    src = pipe_with(b"keys")
    r, w = os.pipe()
    os.close(r)  # EPIPE on the write
    assert stdin.copy(src, w) is False
    os.close(w)
    os.close(src)


def test_detach_keys_in_dockers_words():
    assert stdin.parse_detach_keys("ctrl-p,ctrl-q") == stdin.DETACH
    assert stdin.parse_detach_keys("ctrl-@,ctrl-a,ctrl-z,ctrl-[,ctrl-_,x") == \
        b"\x00\x01\x1a\x1b\x1fx"
    for bad in ("ctrl-", "ctrl-pq", "", "ab", "ctrl-p,,ctrl-q", "ctrl-P"):
        with pytest.raises(InvalidParameter, match=r"Invalid detach keys \("):  # the API's 400
            stdin.parse_detach_keys(bad)


@pytest.mark.parametrize("chunks, out, detached", [
    ([b"plain"], b"plain", False),
    ([b"a\x18", b"xb"], b"a", True),               # the keys across two reads
    ([b"\x18\x18x"], b"\x18", True),               # a first key repeated: one is typed
    ([b"\x18y", b"\x18"], b"\x18y", False),         # broken off: the held key is written
    ([b"\x18"], b"", False),                        # held while it may begin the keys
])
def test_the_escape_finds_keys_however_the_input_is_cut(chunks, out, detached):
    e, got, hit = stdin.Escape(b"\x18x"), b"", False
    for chunk in chunks:
        data, hit = e.feed(chunk)
        got += data
        if hit:
            break
    assert (got, hit) == (out, detached)
