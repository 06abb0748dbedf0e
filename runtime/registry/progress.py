"""What a pull or push shows of each blob: on a terminal, one live row per layer with bytes
and rate, redrawn in place; elsewhere (a log, a pipe, CI) one plain line per finished step.

    p = Progress(sys.stdout)
    p.start("sha256:abc...", "Downloading", total=123456)
    p.advance("sha256:abc...", 65536)        # from any thread
    p.done("sha256:abc...", "Pull complete")
    p.close()
"""

from __future__ import annotations

import threading
import time

from runtime.units import human_size as human

REDRAW_EVERY = 0.1  # seconds: a terminal needs no more, and each redraw costs a write


class _Row:
    __slots__ = ("action", "total", "done_bytes", "started", "finished")

    def __init__(self, action: str, total: int | None, now: float):
        self.action, self.total, self.done_bytes = action, total, 0
        self.started, self.finished = now, None


class Progress:
    def __init__(self, out, clock=time.monotonic):
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.clock = clock
        self.rows: dict[str, _Row] = {}
        self.drawn = 0          # rows on screen from the last redraw
        self.last_draw = 0.0
        self.lock = threading.Lock()

    def start(self, digest: str, action: str, total: int | None = None) -> None:
        with self.lock:
            self.rows[digest] = _Row(action, total, self.clock())
            self._draw(force=True)

    def advance(self, digest: str, n: int) -> None:
        with self.lock:
            row = self.rows.get(digest)
            if row is not None:
                row.done_bytes += n
                self._draw()

    def done(self, digest: str, status: str) -> None:
        """The blob's last word: "Pull complete", "Already exists", "Mounted from x"."""
        with self.lock:
            row = self.rows.get(digest) or _Row(status, None, self.clock())
            row.action, row.finished = status, self.clock()
            self.rows[digest] = row
            if self.tty:
                self._draw(force=True)
            else:
                extra = f" ({human(row.done_bytes)} in {row.finished - row.started:.1f}s)" \
                    if row.done_bytes else ""
                print(f"{short(digest)}: {status}{extra}", file=self.out, flush=True)

    def close(self) -> None:
        with self.lock:
            self._draw(force=True)

    def line(self, digest: str, now: float) -> str:
        row = self.rows[digest]
        text = f"{short(digest)}: {row.action}"
        if row.finished is None and row.done_bytes:
            size = human(row.done_bytes)
            if row.total:
                size += f"/{human(row.total)}"
            rate = row.done_bytes / max(now - row.started, 1e-3)
            text += f"  {size}  {human(rate)}/s"
        return text

    def _draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = self.clock()
        if not force and now - self.last_draw < REDRAW_EVERY:
            return
        self.last_draw = now
        # Back to the first row, then each row rewritten and its tail cleared (\x1b[K).
        up = f"\x1b[{self.drawn}F" if self.drawn else ""
        body = "".join(f"{self.line(d, now)}\x1b[K\n" for d in self.rows)
        self.out.write(up + body)
        self.out.flush()
        self.drawn = len(self.rows)


def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]
