"""Pods run by the node agents, checked with docker inspect and real traffic."""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import time

import docker.errors
import pytest

from integration_tests.hosts import Cluster, netns_pids, process_alive, wait_until

TEST_POD_LABEL = "org.orch.pod.uid"


def create_pod(cluster: Cluster, ns: str, name: str, node: str, containers: list[dict],
               **spec) -> dict:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": containers, **spec}}
    r = cluster.api().post(f"/api/v1/namespaces/{ns}/pods", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def pod_status(cluster: Cluster, ns: str, name: str) -> dict:
    r = cluster.api().get(f"/api/v1/namespaces/{ns}/pods/{name}")
    return r.json().get("status", {}) if r.status_code == 200 else {}  # a Status on errors


def wait_running(cluster: Cluster, ns: str, name: str, timeout: float = 60) -> dict:
    last: dict = {}

    def ready():
        st = last["status"] = pod_status(cluster, ns, name)
        conditions = {c["type"]: c["status"] for c in st.get("conditions", [])}
        return st if st.get("phase") == "Running" and conditions.get("Ready") == "True" else None
    try:
        return wait_until(ready, timeout, f"pod {ns}/{name} to be Running and Ready")
    except AssertionError as e:  # say where it got stuck
        raise AssertionError(f"{e}; its last status: {last.get('status')}") from None


def pod_containers(cluster: Cluster, host, uid: str):
    client = cluster.docker(host)
    try:
        return client.containers.list(all=True, filters={"label": f"{TEST_POD_LABEL}={uid}"},
                                      ignore_removed=True)  # the agent removes old attempts
    finally:
        client.close()


def web(name="web", **extra) -> dict:
    return {"name": name, "image": "orch/web:1", **extra}


def shell(name: str, script: str) -> dict:
    return {"name": name, "image": "orch/web:1", "command": ["sh", "-c", script]}


def test_a_two_container_pod_shares_ip_loopback_and_hostname(cluster: Cluster, ns: str) -> None:
    host = cluster.hosts[0]
    pod = create_pod(cluster, ns, "duo", host.name,
                     [web(), shell("side", "sleep 3600")])
    status = wait_running(cluster, ns, "duo")
    assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network(host.pod_cidr)
    containers = {c.labels["org.orch.container.name"]: c
                  for c in pod_containers(cluster, host, pod["metadata"]["uid"])}
    assert set(containers) == {"POD", "web", "side"}
    pause = containers["POD"]
    assert pause.attrs["NetworkSettings"]["IPAddress"] == status["podIP"]
    for name in ("web", "side"):
        assert containers[name].attrs["HostConfig"]["NetworkMode"] == f"container:{pause.id}"
        assert containers[name].attrs["HostConfig"]["IpcMode"] == f"container:{pause.id}"
    code, out = containers["side"].exec_run(["wget", "-qO-", "http://127.0.0.1/"])
    assert code == 0, out
    assert out.decode().startswith("host=duo "), "the hostname is the pod's name"


@pytest.mark.smoke
def test_a_pod_reaches_a_pod_on_another_host_and_the_server_sees_its_pod_ip(
        cluster: Cluster, ns: str) -> None:
    if len(cluster.hosts) < 2:
        pytest.skip("needs two hosts")
    server_host, client_host = cluster.hosts[-1], cluster.hosts[0]
    create_pod(cluster, ns, "server", server_host.name, [web()])
    server_ip = wait_running(cluster, ns, "server")["podIP"]
    client = create_pod(cluster, ns, "client", client_host.name, [shell(
        "c", f"for i in 1 2 3 4 5; do timeout 5 wget -qO- http://{server_ip}/ && exit 0; "
             "sleep 1; done; exit 1")], restartPolicy="Never")
    done = wait_until(lambda: (st := pod_status(cluster, ns, "client")).get("phase") in
                      ("Succeeded", "Failed") and st, 60, "the client pod to finish")
    [container] = [c for c in pod_containers(cluster, client_host, client["metadata"]["uid"])
                   if c.labels["org.orch.container.name"] == "c"]
    out = container.logs().decode()
    assert done["phase"] == "Succeeded", out
    seen = re.search(r"client=([0-9.]+):", out).group(1)
    assert seen == done["podIP"], f"the server saw {seen}, the client pod is {done['podIP']}"


@pytest.mark.parametrize("policy,exit_code,phase", [
    ("Never", 3, "Failed"), ("OnFailure", 0, "Succeeded"), ("Never", 0, "Succeeded"),
], ids=["never-fails", "onfailure-succeeds", "never-succeeds"])
def test_a_finished_container_sets_the_phase_per_restart_policy(
        cluster: Cluster, ns: str, policy: str, exit_code: int, phase: str) -> None:
    create_pod(cluster, ns, "once", cluster.hosts[0].name, [shell("c", f"exit {exit_code}")],
               restartPolicy=policy)
    status = wait_until(lambda: (st := pod_status(cluster, ns, "once")).get("phase") == phase
                        and st, 60, f"phase {phase}")
    [c] = status["containerStatuses"]
    assert c["state"]["terminated"]["exitCode"] == exit_code
    assert c["restartCount"] == 0


def test_a_crashing_container_restarts_with_a_growing_back_off(cluster: Cluster, ns: str) -> None:
    create_pod(cluster, ns, "crash", cluster.hosts[0].name, [shell("c", "exit 1")])
    seen_at: dict[int, float] = {}
    reasons: set[str] = set()

    def three_restarts():
        [c] = pod_status(cluster, ns, "crash").get("containerStatuses") or [{}]
        count = c.get("restartCount", 0)
        seen_at.setdefault(count, time.monotonic())
        reasons.add(((c.get("state") or {}).get("waiting") or {}).get("reason", ""))
        return count >= 3

    wait_until(three_restarts, 120, "three restarts", interval=0.2)
    assert "CrashLoopBackOff" in reasons
    gaps = [seen_at[n + 1] - seen_at[n] for n in (1, 2)]
    assert gaps[1] > gaps[0] * 1.4, f"the back-off did not grow: {gaps}"


@pytest.mark.fault
def test_an_agent_killed_and_restarted_disturbs_no_container(cluster: Cluster, ns: str) -> None:
    if cluster.inventory.kind != "netns":
        pytest.skip("kills the agent's process directly (netns lab)")
    host = cluster.hosts[-1]
    # the node may be found lost while its agent is down (a loaded machine): the pod stays
    # (tolerating it), so what is checked is the agent's own adoption of its containers
    stay = [{"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute"}
            for t in ("unreachable", "not-ready")]
    pod = create_pod(cluster, ns, "steady", host.name, [web(), shell("side", "sleep 3600")],
                     tolerations=stay)
    wait_running(cluster, ns, "steady")
    before = sorted((c.id, c.status) for c in pod_containers(cluster, host, pod["metadata"]["uid"]))
    [agent] = netns_pids(host.netns, "node-agent")
    os.kill(agent, signal.SIGKILL)
    wait_until(lambda: not process_alive(agent), 10, "the agent to die")
    cluster.power_on(host)  # restarts the agent; `start` waits for the Node to be Ready
    time.sleep(3)  # a few relists of the new agent
    after = sorted((c.id, c.status) for c in pod_containers(cluster, host, pod["metadata"]["uid"]))
    assert after == before, "containers were restarted, replaced or duplicated"
    status = wait_running(cluster, ns, "steady")
    assert all(c["restartCount"] == 0 for c in status["containerStatuses"])


@pytest.mark.fault
def test_after_a_dockerd_restart_the_pods_come_back(cluster: Cluster, ns: str) -> None:
    if cluster.inventory.kind != "netns":
        pytest.skip("kills dockerd directly (netns lab)")
    host = cluster.hosts[-1]
    create_pod(cluster, ns, "phoenix", host.name, [web()])
    wait_running(cluster, ns, "phoenix")
    [dockerd] = netns_pids(host.netns, "dockerd")
    os.kill(dockerd, signal.SIGKILL)
    wait_until(lambda: not process_alive(dockerd), 10, "dockerd to die")
    cluster.power_on(host)  # restarts dockerd (which stops the containers it finds)
    status = wait_until(lambda: (st := wait_running(cluster, ns, "phoenix"))
                        ["containerStatuses"][0]["restartCount"] >= 1 and st, 90,
                        "the pod to run again in a new sandbox")
    assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network(host.pod_cidr)


def test_a_pod_that_cannot_run_says_why_and_the_others_run(cluster: Cluster, ns: str) -> None:
    host = cluster.hosts[0]
    create_pod(cluster, ns, "noimage", host.name, [web(image="orch/missing:1")])
    create_pod(cluster, ns, "nocm", host.name, [web(env=[{"name": "X", "valueFrom": {
        "configMapKeyRef": {"name": "absent", "key": "k"}}}])])

    def reason(name):
        [c] = pod_status(cluster, ns, name).get("containerStatuses") or [{}]
        return ((c.get("state") or {}).get("waiting") or {}).get("reason")

    # the pull fails (ErrImagePull), then waits out a back-off (ImagePullBackOff): a loaded
    # node may write only the second, so the first is checked in its Event
    wait_until(lambda: reason("noimage") in ("ErrImagePull", "ImagePullBackOff"), 60,
               "ErrImagePull or ImagePullBackOff")
    wait_until(lambda: any(e["reason"] == "Failed" and e["message"].startswith("ErrImagePull")
                           for e in cluster.api().get(f"/api/v1/namespaces/{ns}/events", params={
                               "fieldSelector": "involvedObject.name=noimage"}).json()["items"]),
               30, "the Failed (ErrImagePull) Event")
    wait_until(lambda: reason("nocm") == "CreateContainerConfigError", 60,
               "CreateContainerConfigError")
    create_pod(cluster, ns, "fine", host.name, [web()])
    wait_running(cluster, ns, "fine")


def test_deleting_a_pod_stops_its_containers_and_releases_the_object(
        cluster: Cluster, ns: str) -> None:
    host = cluster.hosts[0]
    pod = create_pod(cluster, ns, "bye", host.name, [web()],
                     terminationGracePeriodSeconds=20)
    wait_running(cluster, ns, "bye")
    assert cluster.api().delete(f"/api/v1/namespaces/{ns}/pods/bye").status_code == 200
    wait_until(lambda: cluster.api().get(f"/api/v1/namespaces/{ns}/pods/bye").status_code == 404,
               60, "the pod object to be released")
    assert pod_containers(cluster, host, pod["metadata"]["uid"]) == []


def test_a_readiness_probe_drives_the_ready_condition(cluster: Cluster, ns: str) -> None:
    host = cluster.hosts[0]
    probe = {"httpGet": {"path": "/ready", "port": 80}, "periodSeconds": 1, "failureThreshold": 1}
    pod = create_pod(cluster, ns, "gated", host.name, [web(readinessProbe=probe)])

    def ready() -> str:
        conditions = pod_status(cluster, ns, "gated").get("conditions") or []
        return {c["type"]: c["status"] for c in conditions}.get("Ready", "")

    wait_until(lambda: pod_status(cluster, ns, "gated").get("phase") == "Running", 60, "Running")
    time.sleep(2)  # a few probe periods: /ready does not exist yet
    assert ready() == "False"
    [container] = [c for c in pod_containers(cluster, host, pod["metadata"]["uid"])
                   if c.labels["org.orch.container.name"] == "web"]
    container.exec_run(["sh", "-c", "echo ok > /www/ready"])
    wait_until(lambda: ready() == "True", 30, "Ready after the probe succeeds")
    container.exec_run(["rm", "/www/ready"])
    wait_until(lambda: ready() == "False", 30, "not Ready after the probe fails")
    [status] = pod_status(cluster, ns, "gated")["containerStatuses"]
    assert status["restartCount"] == 0 and "running" in status["state"]


def test_a_failing_liveness_probe_restarts_the_container(cluster: Cluster, ns: str) -> None:
    probe = {"tcpSocket": {"port": 81}, "periodSeconds": 1, "failureThreshold": 2}
    create_pod(cluster, ns, "sick", cluster.hosts[0].name, [web(livenessProbe=probe)])

    def restarts() -> int:
        statuses = pod_status(cluster, ns, "sick").get("containerStatuses") or [{}]
        return statuses[0].get("restartCount", 0)

    wait_until(lambda: restarts() >= 2, 120, "two restarts by the liveness probe")
    [status] = pod_status(cluster, ns, "sick")["containerStatuses"]
    assert "terminated" in status.get("lastState", {})


def _exec(cluster: Cluster, ns: str, pod: str, command: list[str], stdin: bytes = b"",
          who: str = "admin", container: str | None = None, protocol: str = "v5.channel.k8s.io"):
    """pods/{pod}/exec through the API, as a WebSocket spoken at the wire (channel byte, then
    data): (HTTP code of the upgrade, {"stdout", "stderr"}, the error channel's Status)."""
    import asyncio
    import json as _json
    import ssl

    import aiohttp

    session = cluster.api(who)
    query = ([("container", container)] if container else []) + [
        ("command", c) for c in command] + [("stdin", "true")] * bool(stdin)

    async def run():
        context = ssl.create_default_context(cafile=cluster.inventory.ca_file)
        async with aiohttp.ClientSession() as http:
            try:
                ws = await http.ws_connect(
                    f"{cluster.inventory.api}/api/v1/namespaces/{ns}/pods/{pod}/exec",
                    params=query, protocols=(protocol,), ssl=context,
                    headers={k: v for k, v in session.headers.items() if k == "Authorization"})
            except aiohttp.WSServerHandshakeError as e:
                return e.status, None, None
            async with ws:
                assert ws.protocol == protocol
                if stdin:
                    await ws.send_bytes(b"\x00" + stdin)
                    if protocol.startswith("v5"):
                        await ws.send_bytes(b"\xff\x00")  # stdin has ended
                out, status = {"stdout": b"", "stderr": b""}, None
                async for msg in ws:
                    channel, data = msg.data[0], msg.data[1:]
                    if channel == 3 and data:
                        status = _json.loads(data)
                    elif channel in (1, 2):
                        out["stdout" if channel == 1 else "stderr"] += data
                return 101, out, status

    return asyncio.run(asyncio.wait_for(run(), 60))


def test_logs_and_exec_through_the_api_return_the_containers_real_output(
        cluster: Cluster, ns: str) -> None:
    host = cluster.hosts[-1]
    create_pod(cluster, ns, "chatty", host.name, [shell(
        "c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done")])
    wait_running(cluster, ns, "chatty")
    api = cluster.api()
    wait_until(lambda: "line 3" in api.get(f"/api/v1/namespaces/{ns}/pods/chatty/log").text,
               30, "log lines")
    tail = api.get(f"/api/v1/namespaces/{ns}/pods/chatty/log", params={"tailLines": "2"}).text
    assert len(tail.splitlines()) == 2 and tail.startswith("line ")
    with api.get(f"/api/v1/namespaces/{ns}/pods/chatty/log", params={"follow": "true"},
                 stream=True) as follow:
        lines = follow.iter_lines(chunk_size=1)
        first = [next(lines) for _ in range(3)]
        later = [next(lines) for _ in range(10)]  # keeps coming while the container writes
    assert first[0].startswith(b"line ") and later[-1].startswith(b"line ")

    code, out, status = _exec(cluster, ns, "chatty",
                              ["sh", "-c", "cat; echo oops >&2; hostname; exit 7"], b"hi\n")
    assert code == 101 and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
    assert out["stdout"] == b"hi\nchatty\n" and out["stderr"] == b"oops\n"
    # v4 (the official Python client's) has no end of stdin: a command that needs none
    code, out, status = _exec(cluster, ns, "chatty", ["hostname"], protocol="v4.channel.k8s.io")
    assert out["stdout"] == b"chatty\n" and status == {"metadata": {}, "status": "Success"}
    assert _exec(cluster, ns, "chatty", ["id"], who="readonly")[0] == 403
    assert _exec(cluster, ns, "chatty", ["id"], container="nope")[0] == 400


def test_logs_of_the_previous_attempt_after_a_crash(cluster: Cluster, ns: str) -> None:
    create_pod(cluster, ns, "phoenix", cluster.hosts[0].name, [shell(
        "c", "echo started at $(date +%s%N); sleep 1; exit 1")])

    def restarts() -> int:
        statuses = pod_status(cluster, ns, "phoenix").get("containerStatuses") or [{}]
        return statuses[0].get("restartCount", 0)

    wait_until(lambda: restarts() >= 1, 60, "a restart")
    api = cluster.api()
    previous = api.get(f"/api/v1/namespaces/{ns}/pods/phoenix/log", params={"previous": "true"})
    assert previous.status_code == 200 and previous.text.startswith("started at ")
    current = api.get(f"/api/v1/namespaces/{ns}/pods/phoenix/log")
    assert current.status_code == 200 and current.text != previous.text


def test_volumes_configmap_secret_and_a_shared_empty_dir(cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    api.post(f"/api/v1/namespaces/{ns}/configmaps", json={
        "metadata": {"name": "cfg"}, "data": {"app.conf": "color=blue\n", "other": "x"}}
    ).raise_for_status()
    api.post(f"/api/v1/namespaces/{ns}/secrets", json={
        "metadata": {"name": "creds"}, "stringData": {"password": "hunter2"}}).raise_for_status()
    volumes = [
        {"name": "config", "configMap": {"name": "cfg", "items": [
            {"key": "app.conf", "path": "conf/app.conf"}]}},
        {"name": "secret", "secret": {"secretName": "creds", "defaultMode": 0o400}},
        {"name": "shared", "emptyDir": {}},
    ]
    writer = shell("writer", "echo from-writer > /shared/note; sleep 3600")
    writer["volumeMounts"] = [{"name": "shared", "mountPath": "/shared"}]
    reader = shell("reader", "sleep 3600")
    reader["volumeMounts"] = [{"name": "shared", "mountPath": "/data"},
                              {"name": "config", "mountPath": "/etc/app"},
                              {"name": "secret", "mountPath": "/etc/creds", "readOnly": True},
                              # one file of a volume over a path of the image (a config file)
                              {"name": "config", "mountPath": "/etc/single.conf",
                               "subPath": "conf/app.conf"},
                              {"name": "shared", "mountPath": "/inner", "subPath": "made/here"}]
    create_pod(cluster, ns, "vols", cluster.hosts[0].name, [writer, reader], volumes=volumes)
    wait_running(cluster, ns, "vols")

    def run(script: str) -> str:
        code, out, status = _exec(cluster, ns, "vols", ["sh", "-c", script],
                                  container="reader")
        assert code == 101 and status["status"] == "Success", (out, status)
        return out["stdout"].decode()

    assert run("cat /etc/app/conf/app.conf") == "color=blue\n"
    assert run("ls /etc/app") == "conf\n"  # only the listed item
    assert run("cat /etc/creds/password") == "hunter2"
    assert run("stat -L -c %a /etc/creds/password") == "400\n"  # a link through ..data
    assert run("cat /etc/single.conf") == "color=blue\n"
    assert run("echo in-sub > /inner/x && cat /data/made/here/x") == "in-sub\n"
    # a change to the ConfigMap reaches the running pod's volume (a subPath mount keeps what
    # it started with, as in Kubernetes), and the container is not restarted for it
    api.patch(f"/api/v1/namespaces/{ns}/configmaps/cfg", json={"data": {"app.conf": "color=red\n"}},
              headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    wait_until(lambda: run("cat /etc/app/conf/app.conf") == "color=red\n", 90,
               "the ConfigMap's change in the mounted volume")
    assert run("cat /etc/single.conf") == "color=blue\n"
    reader_status = next(c for c in api.get(f"/api/v1/namespaces/{ns}/pods/vols").json()[
        "status"]["containerStatuses"] if c["name"] == "reader")
    assert reader_status["restartCount"] == 0
    wait_until(lambda: run("cat /data/note 2>/dev/null || true") == "from-writer\n", 30,
               "the writer's file in the shared emptyDir")


def test_a_pod_whose_configmap_is_missing_says_so(cluster: Cluster, ns: str) -> None:
    container = web()
    container["volumeMounts"] = [{"name": "config", "mountPath": "/etc/app"}]
    create_pod(cluster, ns, "novol", cluster.hosts[0].name, [container],
               volumes=[{"name": "config", "configMap": {"name": "absent"}}])

    def waiting() -> dict:
        statuses = pod_status(cluster, ns, "novol").get("containerStatuses") or [{}]
        return (statuses[0].get("state") or {}).get("waiting") or {}

    state = wait_until(lambda: waiting().get("reason") == "CreateContainerConfigError"
                       and waiting(), 60, "CreateContainerConfigError")
    assert 'configmap "absent"' in state["message"]


def test_a_container_that_belongs_to_no_pod_is_removed(cluster: Cluster) -> None:
    host = cluster.hosts[0]
    client = cluster.docker(host)
    try:
        orphan = client.containers.create("orch/web:1", labels={
            TEST_POD_LABEL: "00000000-dead-beef-0000-000000000000",
            "org.orch.pod.namespace": "default", "org.orch.pod.name": "ghost",
            "org.orch.container.name": "web", "org.orch.container.attempt": "0"})
        try:
            orphan.start()
        except docker.errors.APIError:
            pass  # the agent's relist removed it between create and start: what is tested

        def gone() -> bool:
            # ignore_removed: the list inspects each container it finds, and the agent may
            # remove one in between
            return not client.containers.list(all=True, filters={"id": orphan.id},
                                              ignore_removed=True)

        wait_until(gone, 30, "the agent to remove the orphaned container")
    finally:
        client.close()


def test_env_from_and_variable_references_reach_the_process(cluster: Cluster, ns: str) -> None:
    """envFrom a ConfigMap and a Secret (prefixed), env over envFrom, and $(VAR) expanded in
    env values and in args, as the container's own process sees them."""
    api = cluster.api()
    api.post(f"/api/v1/namespaces/{ns}/configmaps", json={
        "metadata": {"name": "settings"}, "data": {"COLOR": "blue", "SIZE": "L"}}
    ).raise_for_status()
    api.post(f"/api/v1/namespaces/{ns}/secrets", json={
        "metadata": {"name": "creds"}, "stringData": {"password": "hunter2"}}).raise_for_status()
    container = {"name": "c", "image": "orch/web:1", "command": ["sh", "-c"],
                 "args": ['echo "$COLOR $SIZE $DB_password $LABEL $(SIZE)"; sleep 3600'],
                 "envFrom": [{"configMapRef": {"name": "settings"}},
                             {"prefix": "DB_", "secretRef": {"name": "creds"}}],
                 "env": [{"name": "COLOR", "value": "red"},
                         {"name": "LABEL", "value": "$(COLOR)-$(SIZE)"}]}
    create_pod(cluster, ns, "envs", cluster.hosts[0].name, [container])
    wait_running(cluster, ns, "envs")
    wait_until(lambda: api.get(f"/api/v1/namespaces/{ns}/pods/envs/log").text.strip() ==
               "red L hunter2 red-L L", 60, "the expanded environment in the log")
