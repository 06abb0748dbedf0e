"""Reading a stream a few blocks ahead, in a thread of its own.

A layer arrives as one stream that is both kept (the blob, and its digest) and unpacked
(thousands of files). The unpacker spends its time in the kernel creating files; the other
half of the work - the socket's wait, decompression, sha256, the blob's write - releases the
GIL too. ReadAhead runs that half in a second thread, so the two overlap:

    ahead = ReadAhead(src, sink=keep)  # keep(block) runs in the reading thread
    tarfile.open(fileobj=ahead, mode="r:")
    ...
    ahead.finish()                      # the rest of the stream through sink; errors raised

Seeks go forward only (a skip), which is all that tarfile's "r:" mode does on an archive
read in order. The reading thread never outlives close() waiting on a reader that left.
"""

from __future__ import annotations

import io
import queue
import threading

BLOCK = 1 << 20
DEPTH = 8  # blocks read ahead: 8 MiB at most held in memory


class ReadAhead(io.RawIOBase):
    def __init__(self, src, sink=None, block: int = BLOCK, depth: int = DEPTH):
        super().__init__()
        self._q: queue.Queue = queue.Queue(depth)
        self._block = b""  # the block being read, and where in it
        self._at = 0
        self._pos = 0      # the reader's position in the stream
        self._ended = False
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._fill, args=(src, sink, block),
                                        name="pyrun-readahead", daemon=True)
        self._thread.start()

    # ---- the reading thread ------------------------------------------------------------------
    def _fill(self, src, sink, block: int) -> None:
        try:
            while not self._stop.is_set():
                data = src.read(block)
                if not data:
                    break
                if sink is not None:
                    sink(data)
                self._put(data)
        except BaseException as e:  # handed to the reader, raised there
            self._error = e
        self._put(None)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # ---- the reader --------------------------------------------------------------------------
    def _next(self) -> bool:
        if self._ended:
            return False
        data = self._q.get()
        if data is None:
            self._ended = True
            if self._error is not None:
                raise self._error
            return False
        self._block, self._at = data, 0
        return True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True  # forward: see seek()

    def read(self, n: int = -1) -> bytes:
        parts = []
        want = n if n is not None and n >= 0 else float("inf")
        while want > 0:
            left = len(self._block) - self._at
            if left == 0:
                if not self._next():
                    break
                continue
            take = left if left < want else int(want)
            parts.append(self._block[self._at:self._at + take])  # the whole block: no copy
            self._at += take
            want -= take
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self._pos += len(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            pos += self._pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("ReadAhead seeks from the start or the current place")
        if pos < self._pos:
            raise io.UnsupportedOperation(f"ReadAhead reads forward only ({pos} < {self._pos})")
        while self._pos < pos:
            left = len(self._block) - self._at
            if left == 0:
                if not self._next():
                    break
                continue
            step = min(left, pos - self._pos)
            self._at += step
            self._pos += step
        return self._pos

    def finish(self) -> None:
        """Read to the end (what the reader left still passes through sink); the reading
        thread's error, if any, is raised here."""
        while self._next():
            self._pos += len(self._block) - self._at
            self._at = len(self._block)
        self._thread.join()

    def close(self) -> None:
        """Stop reading ahead. A thread blocked in src.read() ends when that read returns
        (the caller closing the source ends it sooner); it never blocks on the queue."""
        self._stop.set()
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        super().close()
