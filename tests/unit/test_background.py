"""runtime/background.py: detached work, also from a threaded caller (the API service)."""

import os
import subprocess
import sys
import textwrap
import time

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_caller(tmp_path, threaded: bool) -> str:
    """A caller that forks later() work which imports a module; threaded: while another
    thread of the caller is in the middle of importing that very module."""
    (tmp_path / "slowmod.py").write_text("import time\ntime.sleep(0.5)\n")
    (tmp_path / "work.py").write_text(textwrap.dedent("""
        import os

        def mark(path, text):
            import slowmod  # noqa: F401 - what the other thread is importing
            with open(path + ".tmp", "w") as f:
                f.write(f"{text} {os.getppid()}")
            os.rename(path + ".tmp", path)
    """))
    out = str(tmp_path / "done")
    caller = textwrap.dedent(f"""
        import sys, threading, time
        sys.path[:0] = [{str(tmp_path)!r}, {PROJECT!r}]
        from runtime.background import later
        import work
        if {threaded}:
            t = threading.Thread(target=__import__, args=("slowmod",))
            t.start()
            time.sleep(0.1)  # slowmod's module lock is held now
        later(work.mark, {out!r}, "done")
    """)
    subprocess.run([sys.executable, "-c", caller], check=True, timeout=30)
    return out


def _wait_for(path: str, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "the detached work never ran"
        time.sleep(0.05)
    with open(path) as f:
        return f.read()


def test_work_runs_detached_after_the_caller_ends(tmp_path):
    text, parent = _wait_for(_run_caller(tmp_path, threaded=False)).split()
    assert text == "done" and parent != str(os.getpid())


def test_a_threaded_callers_work_runs_although_a_lock_was_held_at_the_fork(tmp_path):
    # A plain fork's child would wait for ever on slowmod's module lock, which the other
    # thread held when the fork copied the caller.
    assert _wait_for(_run_caller(tmp_path, threaded=True)).split()[0] == "done"

