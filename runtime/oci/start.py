"""start: tell a created container's init to exec its program, then run poststart hooks."""

from __future__ import annotations

import os

from runtime.errors import ContainerStateError, SetupError
from runtime.oci import channel as ch
from runtime.oci import log
from runtime.oci.state import START_SOCKET, State


def start(root: str, container_id: str) -> None:
    state = State.load(root, container_id)
    lock = state.lock()
    try:
        status = state.status()
        if status != "created":
            raise ContainerStateError(f"cannot start a container that is {status}"
                                      if status != "stopped" else "container not running")
        import _socket
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        here = os.open(".", os.O_PATH | os.O_CLOEXEC)
        try:
            os.chdir(state.dir)  # connect by a short relative name: sun_path is 108 bytes
            sock.connect(START_SOCKET)
        except OSError as e:
            raise SetupError(f"start {container_id}: {e.strerror}") from None
        finally:
            os.fchdir(here)
            os.close(here)
        conn = ch.Channel(sock.fileno(), sock.fileno())
        try:
            conn.send(ch.Continue())
            os.unlink(os.path.join(state.dir, START_SOCKET))
            try:
                conn.expect()  # end-of-file: the init has exec'd the program
            except ch.ChannelClosed:
                pass
        finally:
            sock.close()
    finally:
        os.close(lock)
    poststart(state)


def poststart(state: State) -> None:
    hooks = state.data.get("hooks", {}).get("poststart")
    if not hooks:
        return
    from runtime.oci import hooks as hookmod
    try:
        hookmod.run("poststart", hookmod.from_raw({"poststart": hooks})["poststart"],
                    state.oci_state())
    except SetupError as e:
        log.warning(str(e))  # the spec: a failing poststart hook is logged, not fatal
