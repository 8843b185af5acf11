"""The agent's exec/attach WebSocket (node_agent/streams.py) over real HTTP on loopback, with
the fake runtime's `cat`-like command on the far end; and the protocol's pure parts
(kube/remotecommand.py)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from kube import remotecommand as rc
from node_agent import streams
from node_agent.runtime import RuntimeFailure
from node_agent.runtime.docker import FrameSplitter
from node_agent.runtime.fake import FakeRuntime, FakeStream
from node_agent.runtime.protocol import ContainerConfig, SandboxConfig


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def app_for(runtime: FakeRuntime, container_id: str) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        options = rc.agent_options(request.query, request.query.getall("command", []), False)
        refused = streams.not_upgradable(request)
        if refused:
            return web.Response(status=400, text=refused)
        return await streams.serve(request, options, lambda: runtime.open_exec(
            container_id, list(options.command), options.stdin, options.stdout, options.stderr,
            options.tty))

    app = web.Application()
    app.router.add_get("/exec", handler)
    return app


def started(runtime: FakeRuntime) -> str:
    sandbox = runtime.start_sandbox(SandboxConfig(name="p", hostname="p", labels={}), "pause")
    return runtime.start_container(ContainerConfig(name="c", image="busybox", labels={},
                                                   sandbox_id=sandbox.id))


async def session(app: web.Application, query: list[tuple[str, str]], protocol: str,
                  send: list[bytes]) -> tuple[dict[int, bytes], dict, int]:
    """Connect, send `send`, read to the end: (output by channel, the Status, close code)."""
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        async with http.ws_connect(server.make_url("/exec"), params=query,
                                   protocols=(protocol,)) as ws:
            assert ws.protocol == protocol
            for message in send:
                await ws.send_bytes(message)
            out: dict[int, bytes] = {}
            status: dict = {}
            async for msg in ws:
                assert msg.type == aiohttp.WSMsgType.BINARY
                channel, data = msg.data[0], msg.data[1:]
                if channel == rc.ERROR and data:
                    status = json.loads(data)
                else:
                    out[channel] = out.get(channel, b"") + data
            return out, status, ws.close_code or 0


def test_v5_stdin_is_echoed_until_its_close_message_and_the_exit_code_is_the_status():
    runtime = FakeRuntime(images=("busybox", "pause"))
    cid = started(runtime)
    runtime.exec_output[(cid, ("cat",))] = b"ready\n"
    runtime.exec_codes[(cid, ("cat",))] = 3
    out, status, code = run(session(
        app_for(runtime, cid), [("command", "cat"), ("input", "1"), ("output", "1")], rc.V5,
        [rc.message(rc.STDIN, b"hello "), rc.message(rc.STDIN, b"world"),
         bytes((rc.CLOSE, rc.STDIN))]))
    assert out[rc.STDOUT] == b"ready\nhello world"
    assert status["reason"] == "NonZeroExitCode" and rc.exit_code_of(status) == 3
    assert code == 1000


def test_a_tty_session_takes_resizes_and_success_is_status_success():
    runtime = FakeRuntime(images=("busybox", "pause"))
    cid = started(runtime)
    out, status, _ = run(session(
        app_for(runtime, cid), [("command", "sh"), ("output", "1"), ("tty", "1")], rc.V4,
        [rc.message(rc.RESIZE, b'{"Width": 120, "Height": 40}'),
         rc.message(rc.RESIZE, b"not json")]))
    assert status == {"metadata": {}, "status": "Success"} and rc.exit_code_of(status) == 0
    stream: FakeStream = runtime.streams[0]
    assert stream.tty and stream.resizes == [(120, 40)]  # the bad resize is dropped


def test_a_command_that_cannot_start_is_a_failure_on_the_error_channel():
    runtime = FakeRuntime(images=("busybox", "pause"))
    cid = started(runtime)
    runtime.exit(cid, 0)
    out, status, _ = run(session(app_for(runtime, cid), [("command", "ls"), ("output", "1")],
                                 rc.V5, []))
    assert status["status"] == "Failure" and "not running" in status["message"]
    assert rc.exit_code_of(status) == 1


def test_a_plain_request_or_an_unknown_protocol_is_refused_before_any_upgrade():
    runtime = FakeRuntime(images=("busybox", "pause"))
    app = app_for(runtime, started(runtime))

    async def plain() -> tuple[int, str, int]:
        async with TestServer(app) as server, aiohttp.ClientSession() as http:
            async with http.get(server.make_url("/exec"),
                                params=[("command", "ls"), ("output", "1")]) as r:
                plain = r.status, await r.text()
            async with http.get(server.make_url("/exec"), params=[("command", "ls"), ("output", "1")],
                                headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                         "Sec-WebSocket-Version": "13",
                                         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                         "Sec-WebSocket-Protocol": "channel.k8s.io"}) as r:
                return plain[0], plain[1], r.status

    status, text, unknown = run(plain())
    assert status == 400 and "Upgrade request required" in text and unknown == 400
    assert runtime.streams == []  # nothing was started


def test_options_default_and_check_as_kubernetes_does():
    options = rc.api_options({"stdin": "true", "tty": "true"}, ["sh"], attach=False)
    assert (options.stdin, options.stdout, options.stderr, options.tty) == (True, True, False, True)
    assert options.agent_query() == [("command", "sh"), ("input", "1"), ("output", "1"),
                                     ("tty", "1")]
    with pytest.raises(rc.BadOptions, match="at least 1 of stdin, stdout, stderr"):
        rc.api_options({"stdout": "false", "stderr": "0"}, ["ls"], attach=False)
    with pytest.raises(rc.BadOptions, match="command"):
        rc.api_options({}, [], attach=False)
    with pytest.raises(rc.BadOptions, match="attach takes no command"):
        rc.api_options({}, ["ls"], attach=True)
    with pytest.raises(rc.BadOptions, match="stdin: Invalid value: 'yes'"):
        rc.api_options({"stdin": "yes"}, ["ls"], attach=False)


def test_statuses_and_exit_codes():
    assert rc.exit_code_of(rc.exit_status(0)) == 0
    assert rc.exit_code_of(rc.exit_status(42, ("false",))) == 42
    assert rc.exit_code_of(rc.failure("InternalError", "boom")) == 1
    assert rc.parse_resize(b'{"Width": 0, "Height": 5}') is None


def test_docker_frames_are_split_even_when_cut_between_reads():
    frames = (bytes((1, 0, 0, 0, 0, 0, 0, 3)) + b"out" + bytes((2, 0, 0, 0, 0, 0, 0, 4))
              + b"errs")
    splitter = FrameSplitter()
    chunks = [c for i in range(0, len(frames), 5) for c in splitter.feed(frames[i:i + 5])]
    assert chunks == [(1, b"out"), (2, b"errs")]


def test_the_fake_refuses_an_exec_in_a_stopped_container():
    runtime = FakeRuntime(images=("busybox", "pause"))
    cid = started(runtime)
    runtime.exit(cid, 1)
    with pytest.raises(RuntimeFailure):
        runtime.open_exec(cid, ["ls"], False, True, True, False)


def test_the_agent_finds_the_container_of_the_pod_with_the_uid_it_is_given():
    """A pod made again under its name (a StatefulSet's) may still have its predecessor's
    container on the node: the API server names the UID, and exec, attach and logs reach the
    new pod's container, never the old one's."""
    from node_agent.pods.model import (LABEL_ATTEMPT, LABEL_CONTAINER, LABEL_POD_NAME,
                                       LABEL_POD_NAMESPACE, LABEL_POD_UID)
    from node_agent.server import AgentServer

    runtime = FakeRuntime(images=("busybox", "pause"))
    sandbox = runtime.start_sandbox(SandboxConfig(name="p", hostname="p", labels={}), "pause")

    def container(uid: str, attempt: int) -> str:
        return runtime.start_container(ContainerConfig(name=f"c-{uid}-{attempt}",
                                                       image="busybox", sandbox_id=sandbox.id,
                                                       labels={
            LABEL_POD_NAMESPACE: "ns", LABEL_POD_NAME: "db-0", LABEL_CONTAINER: "c",
            LABEL_POD_UID: uid, LABEL_ATTEMPT: str(attempt)}))
    new_first, old, new_second = container("new", 0), container("old", 3), container("new", 1)
    agent = AgentServer(runtime, "host1")
    assert agent._find("ns", "db-0", "new", "c", previous=False) == new_second
    assert agent._find("ns", "db-0", "new", "c", previous=True) == new_first
    assert agent._find("ns", "db-0", "old", "c", previous=False) == old
    with pytest.raises(Exception, match='previous terminated container "c" in pod "db-0"'):
        agent._find("ns", "db-0", "old", "c", previous=True)
