"""The remote-command streams of pods/exec and pods/attach, as Kubernetes speaks them over a
WebSocket (the "channel" subprotocols). Pure: the parsing and the messages; the agent
(node_agent/streams.py), the API server's relay and orchctl do the I/O.

Every binary WebSocket message starts with its channel byte:

    0 stdin (client → server)     3 error: the outcome, a v1 Status as JSON (server → client)
    1 stdout (server → client)    4 resize: {"Width": w, "Height": h} (client → server)
    2 stderr (server → client)    255 close (v5 only): [255, channel], that stream has ended

v5.channel.k8s.io is what kubectl 1.30+ speaks; it adds the close message, so stdin can end
(`kubectl exec -i … < file`). v4.channel.k8s.io (the official Python client) has no way to end
stdin but the end of the connection. The server sends one empty message on the lowest output
channel it will write once the command is running, the Status on channel 3 when it has ended,
then closes the connection normally (1000).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


class BadOptions(ValueError):
    """The request's options are not a command Kubernetes would run (the message says why)."""


@dataclass(frozen=True)
class StreamOptions:
    """PodExecOptions / PodAttachOptions, as the API server takes them on the query and hands
    them to the agent."""

    container: str | None
    command: tuple[str, ...]  # empty for attach
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    def agent_query(self) -> list[tuple[str, str]]:
        """The agent's own parameters (a kubelet's: input/output/error/tty, "1" for on)."""
        query = [("command", c) for c in self.command]
        for name, on in (("input", self.stdin), ("output", self.stdout),
                         ("error", self.stderr), ("tty", self.tty)):
            if on:
                query.append((name, "1"))
        return query


def parse_bool(name: str, value: str) -> bool:
    """A boolean query parameter, as Go's strconv.ParseBool reads it."""
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise BadOptions(f"{name}: Invalid value: {value!r}: not a boolean")


def api_options(query: Mapping[str, str], commands: list[str], attach: bool) -> StreamOptions:
    """PodExecOptions (or PodAttachOptions) from the API's query (`stdin=true&command=sh…`).
    stdout and stderr default to on, as Kubernetes defaults them; stderr with a TTY is dropped
    (a terminal has one output stream), as the kubelet does."""
    def flag(name: str, default: bool) -> bool:
        return parse_bool(name, query[name]) if name in query else default

    options = StreamOptions(container=query.get("container") or None, command=tuple(commands),
                            stdin=flag("stdin", False), stdout=flag("stdout", True),
                            stderr=flag("stderr", True), tty=flag("tty", False))
    return _checked(options, attach)


def agent_options(query: Mapping[str, str], commands: list[str], attach: bool) -> StreamOptions:
    """The same options from the agent's query (StreamOptions.agent_query)."""
    def flag(name: str) -> bool:
        return parse_bool(name, query[name]) if name in query else False

    options = StreamOptions(container=None, command=tuple(commands), stdin=flag("input"),
                            stdout=flag("output"), stderr=flag("error"), tty=flag("tty"))
    return _checked(options, attach)


def _checked(options: StreamOptions, attach: bool) -> StreamOptions:
    if options.tty and options.stderr:
        options = StreamOptions(options.container, options.command, options.stdin,
                                options.stdout, False, options.tty)
    if not (options.stdin or options.stdout or options.stderr):
        raise BadOptions("you must specify at least 1 of stdin, stdout, stderr")
    if not attach and not options.command:
        raise BadOptions("command: Required value: at least one command= parameter is needed")
    if attach and options.command:
        raise BadOptions("command: Forbidden: attach takes no command")
    return options


def exit_status(code: int | None, command: tuple[str, ...] = ()) -> dict[str, Any]:
    """The v4/v5 outcome on the error channel: Success, or the Failure kubectl turns into its
    own exit code (reason NonZeroExitCode, the code as an ExitCode cause)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    if code is None:
        return failure("InternalError", "the command's exit code is unknown")
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def failure(reason: str, message: str) -> dict[str, Any]:
    """A Failure on the error channel that is not a command's exit (it could not start…)."""
    return {"metadata": {}, "status": "Failure", "message": message, "reason": reason}


def exit_code_of(status: Mapping[str, Any]) -> int:
    """What a client exits with for the error channel's Status: 0 for Success, the ExitCode
    cause for NonZeroExitCode, 1 for any other failure."""
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    break
    return 1


def parse_resize(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a resize message's JSON; None when it is not one."""
    try:
        size = json.loads(data)
        width, height = size["Width"], size["Height"]
    except (ValueError, TypeError, KeyError):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536
               for v in (width, height)):
        return None
    return width, height


def message(channel: int, data: bytes = b"") -> bytes:
    return bytes((channel,)) + data
