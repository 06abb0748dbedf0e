"""ReadAhead: a stream read a few blocks ahead in its own thread (runtime/image/readahead.py)."""

import io
import threading
import time

import pytest

from runtime.image.readahead import ReadAhead

DATA = bytes(range(256)) * 4099  # ~1 MiB, not a multiple of any block size used here


def test_reads_tells_and_skips_forward_as_the_source_has_it():
    kept = []
    r = ReadAhead(io.BytesIO(DATA), sink=kept.append, block=1000, depth=2)
    try:
        assert r.read(10) == DATA[:10] and r.tell() == 10
        assert r.read(2500) == DATA[10:2510]           # across blocks
        assert r.seek(5000) == 5000 and r.read(3) == DATA[5000:5003]
        assert r.seek(7, io.SEEK_CUR) == 5010
        buf = bytearray(4)
        assert r.readinto(buf) == 4 and bytes(buf) == DATA[5010:5014]
        with pytest.raises(io.UnsupportedOperation):
            r.seek(100)                               # backwards
        assert r.read() == DATA[5014:]
        assert r.read(1) == b"" and r.tell() == len(DATA)
        r.finish()
    finally:
        r.close()
    assert b"".join(kept) == DATA


def test_finish_passes_what_the_reader_left_through_the_sink():
    kept = []
    r = ReadAhead(io.BytesIO(DATA), sink=kept.append, block=4096)
    r.read(100)
    r.finish()
    r.close()
    assert b"".join(kept) == DATA


class Failing:
    def __init__(self, after: int):
        self.left = after

    def read(self, n):
        if self.left <= 0:
            raise ConnectionResetError("peer went away")
        self.left -= 1
        return b"x" * n


def test_a_source_error_reaches_the_reader_after_the_data_before_it():
    r = ReadAhead(Failing(after=2), block=10)
    assert r.read(20) == b"x" * 20
    with pytest.raises(ConnectionResetError):
        r.read(1)
    r.close()
    r = ReadAhead(Failing(after=1), block=10)
    with pytest.raises(ConnectionResetError):
        r.finish()
    r.close()


class Endless:
    def read(self, n):
        return b"y" * n


def test_close_while_the_thread_is_ahead_ends_the_thread():
    before = threading.active_count()
    r = ReadAhead(Endless(), block=64, depth=2)
    assert r.read(10) == b"y" * 10
    r.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before
