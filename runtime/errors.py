"""The one family of errors pyrun raises on purpose.

Library code raises these with a message a user can act on; only the command-line layers turn
them into exit codes (Docker's convention: 125 the engine failed, 126 the command cannot be
invoked, 127 the command was not found).
"""


class PyrunError(Exception):
    """Something pyrun could not do; the message says what and where."""

    exit_code = 125


class StatusError(PyrunError):
    """A failure whose exit code is the command's answer whatever the command: a build's
    failed RUN gives that step's code, as docker build does (the docker CLI's StatusError)."""

    exit_code = 1


class NotFound(PyrunError):
    """What was named does not exist (a container, image, network, volume): the API's 404."""


class Conflict(PyrunError):
    """The request collides with what exists (a name in use, a running container): 409."""


class InvalidParameter(PyrunError):
    """What was asked for is malformed or not allowed (a bad port spec, a sysctl outside the
    container's namespaces): the API's 400, as Docker's errdefs.InvalidParameter."""


class ConfigError(PyrunError):
    """A bundle's config.json (or a flag) is malformed or asks for something impossible."""


class ContainerNotFound(PyrunError):
    """No container by that id. The wording is matched by containerd: keep it."""

    def __init__(self, container_id: str):
        super().__init__(f"container does not exist: {container_id}")
        self.container_id = container_id


class ContainerStateError(PyrunError):
    """The container is in the wrong state for the request ("container not running")."""


class ContainerExists(PyrunError):
    def __init__(self, container_id: str):
        super().__init__(f"container with id exists: {container_id}")


class SetupError(PyrunError):
    """A step of container setup failed; the message names the step and the path."""


class CannotInvoke(PyrunError):
    exit_code = 126


class CommandNotFound(PyrunError):
    exit_code = 127
