"""Pod features beyond containers sharing a network: init containers, a shared PID namespace,
securityContext, fsGroup, hostAliases, hostPort and hostNetwork. Oracles: docker inspect,
what the processes see inside the containers (docker exec, not the API) and real traffic from
another host."""

from __future__ import annotations

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_pods import (create_pod, pod_containers, pod_status, shell,
                                         wait_running, web)


def _by_name(cluster: Cluster, host, uid: str) -> dict:
    return {c.labels["org.orch.container.name"]: c for c in pod_containers(cluster, host, uid)}


def test_init_containers_shared_processes_and_security_hold_inside_the_containers(
        cluster: Cluster, ns: str) -> None:
    host = cluster.hosts[0]
    work = [{"name": "work", "mountPath": "/work"}]
    inits = [{**shell("first", "echo one > /work/order; sleep 1"), "volumeMounts": work},
             {**shell("second", "echo two >> /work/order"), "volumeMounts": work}]
    app = {**shell("app", "sleep 3600"), "volumeMounts": work, "securityContext": {
        "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]}}}
    side = {**shell("side", "exec sleep 4242"),
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}
    pod = create_pod(cluster, ns, "feat", host.name, [app, side], initContainers=inits,
                     shareProcessNamespace=True,
                     securityContext={"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000},
                     hostAliases=[{"ip": "10.1.2.3", "hostnames": ["db.example"]}],
                     volumes=[{"name": "work", "emptyDir": {}}])
    status = wait_running(cluster, ns, "feat")

    # the init containers ran first, in order, each to success, and say so
    assert [(s["name"], s["ready"], s["state"]["terminated"]["exitCode"])
            for s in status["initContainerStatuses"]] == [("first", True, 0),
                                                          ("second", True, 0)]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Initialized"] == "True"
    containers = _by_name(cluster, host, pod["metadata"]["uid"])
    first, second = containers["first"].attrs["State"], containers["second"].attrs["State"]
    assert first["FinishedAt"] <= second["StartedAt"]
    assert second["FinishedAt"] <= containers["app"].attrs["State"]["StartedAt"]

    def inside(command: str) -> str:
        code, out = containers["app"].exec_run(["sh", "-c", command])
        assert code == 0, out
        return out.decode()

    assert inside("cat /work/order") == "one\ntwo\n"
    # runAsUser/runAsGroup, with fsGroup among the groups; the volume is the fsGroup's
    assert inside("id -u; id -g; id -G").split() == ["1000", "3000", "3000", "2000"]
    assert inside("stat -c '%g %A' /work").split() == ["2000", "drwxrwsrwx"]
    assert inside("stat -c %g /work/order").strip() == "2000"
    # a read-only root filesystem, no capabilities, no privilege escalation
    code, out = containers["app"].exec_run(["touch", "/oops"])
    assert code != 0 and b"Read-only file system" in out
    status_lines = inside("cat /proc/self/status")
    assert "CapEff:\t0000000000000000" in status_lines and "NoNewPrivs:\t1" in status_lines
    # one PID namespace: the app sees its sibling's process (and the sandbox's as PID 1)
    assert "sleep 4242" in inside("ps -o args")
    assert inside("cat /proc/1/cmdline | tr '\\0' ' '").startswith("/bin/sh /pause")
    # hostAliases in the pod's /etc/hosts
    assert "10.1.2.3\tdb.example" in inside("cat /etc/hosts")

    config = containers["app"].attrs["HostConfig"]
    assert config["PidMode"] == f"container:{containers['POD'].id}"
    assert config["ReadonlyRootfs"] is True and config["CapDrop"] == ["ALL"]
    # seccomp: Kubernetes' default is Unconfined; RuntimeDefault is docker's profile
    assert config["SecurityOpt"] == ["no-new-privileges", "seccomp=unconfined"]
    assert "Seccomp:\t0" in status_lines
    code, out = containers["side"].exec_run(["grep", "Seccomp:", "/proc/self/status"])
    assert out.decode().split() == ["Seccomp:", "2"]  # filtered
    assert containers["app"].attrs["Config"]["User"] == "1000:3000"
    assert config["GroupAdd"] == ["2000"]


def test_a_failed_init_container_fails_a_never_restarting_pod_and_the_app_never_runs(
        cluster: Cluster, ns: str) -> None:
    host = cluster.hosts[1]
    pod = create_pod(cluster, ns, "badinit", host.name, [web()],
                     initContainers=[shell("migrate", "echo no database; exit 3")],
                     restartPolicy="Never")
    status = wait_until(lambda: (s := pod_status(cluster, ns, "badinit")).get("phase") ==
                        "Failed" and s, 60, "the pod to fail")
    [init] = status["initContainerStatuses"]
    assert init["state"]["terminated"]["exitCode"] == 3 and not init["ready"]
    [app] = status["containerStatuses"]
    assert app["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert set(_by_name(cluster, host, pod["metadata"]["uid"])) == {"POD", "migrate"}


def test_run_as_non_root_refuses_an_image_that_runs_as_root(cluster: Cluster, ns: str) -> None:
    create_pod(cluster, ns, "rooty", cluster.hosts[0].name,
               [{**web(), "securityContext": {"runAsNonRoot": True}}])
    status = wait_until(
        lambda: next((c["state"].get("waiting") for c in
                      pod_status(cluster, ns, "rooty").get("containerStatuses", [])
                      if c["state"].get("waiting", {}).get("reason") ==
                      "CreateContainerConfigError"), None), 60, "the config error")
    assert "container has runAsNonRoot and image will run as root" in status["message"]


def test_a_host_port_answers_on_the_nodes_address_from_another_host(
        cluster: Cluster, ns: str) -> None:
    node, caller = cluster.hosts[0], cluster.hosts[2]
    create_pod(cluster, ns, "hostport", node.name,
               [web(ports=[{"containerPort": 80, "hostPort": 18080}])])
    create_pod(cluster, ns, "hostnet", cluster.hosts[1].name,
               [web(env=[{"name": "PORT", "value": "18081"}],
                    ports=[{"containerPort": 18081}])], hostNetwork=True)
    wait_running(cluster, ns, "hostport")
    hostnet = wait_running(cluster, ns, "hostnet")
    assert hostnet["podIP"] == cluster.hosts[1].address  # the node's network: its address
    for address, port, who in ((node.address, 18080, "host=hostport "),
                               (cluster.hosts[1].address, 18081, f"host={cluster.hosts[1].name} ")):
        out = cluster.run(caller, ["timeout", "10", "busybox", "wget", "-qO-",
                                   f"http://{address}:{port}/"]).stdout
        assert out.startswith(who), out
        assert f"client={caller.address}:" in out  # the caller's own address reaches the pod


def test_a_termination_message_is_the_terminated_states_message(cluster: Cluster,
                                                                ns: str) -> None:
    create_pod(cluster, ns, "bye", cluster.hosts[0].name, [
        {**shell("c", "echo 'out of disk' > /dev/termination-log; exit 3"),
         "securityContext": {"runAsUser": 1000}},
        {**shell("logs", "echo the end; exit 4"),
         "terminationMessagePolicy": "FallbackToLogsOnError"}], restartPolicy="Never")
    status = wait_until(lambda: (s := pod_status(cluster, ns, "bye")).get("phase") == "Failed"
                        and s, 60, "the pod to fail")
    by_name = {c["name"]: c["state"]["terminated"] for c in status["containerStatuses"]}
    assert (by_name["c"]["exitCode"], by_name["c"]["message"]) == (3, "out of disk\n")
    assert (by_name["logs"]["exitCode"], by_name["logs"]["message"]) == (4, "the end\n")


def test_a_startup_probe_holds_started_and_ready_and_a_failing_one_restarts(
        cluster: Cluster, ns: str) -> None:
    slow = {**shell("c", "sleep 4; touch /up; exec sleep 3600"),
            "startupProbe": {"exec": {"command": ["test", "-f", "/up"]},
                             "periodSeconds": 1, "failureThreshold": 30}}
    create_pod(cluster, ns, "slow", cluster.hosts[0].name, [slow])
    early = wait_until(lambda: (s := pod_status(cluster, ns, "slow")).get("containerStatuses")
                       and "running" in s["containerStatuses"][0]["state"] and s, 60,
                       "the container to run")
    assert early["containerStatuses"][0]["started"] is False
    assert early["containerStatuses"][0]["ready"] is False
    status = wait_running(cluster, ns, "slow")  # Ready once started
    assert status["containerStatuses"][0]["started"] is True
    never = {**shell("c", "exec sleep 3600"),
             "startupProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1,
                              "failureThreshold": 2}}
    create_pod(cluster, ns, "never", cluster.hosts[1].name, [never])
    wait_until(lambda: (pod_status(cluster, ns, "never").get("containerStatuses") or [{}])[0]
               .get("restartCount", 0) >= 1, 90, "the container to be restarted")


def test_lifecycle_hooks_post_start_and_pre_stop_before_sigterm(cluster: Cluster,
                                                                ns: str) -> None:
    host = cluster.hosts[0]
    shared = f"/tmp/orch-hooks-{ns}"
    container = {
        **shell("c", f"trap 'echo term >> {shared}/log; exit 0' TERM; "
                     "while :; do sleep 1; done"),
        "volumeMounts": [{"name": "shared", "mountPath": shared}],
        "lifecycle": {
            "postStart": {"exec": {"command": ["sh", "-c", f"echo started > {shared}/post"]}},
            "preStop": {"exec": {"command": ["sh", "-c", f"echo prestop >> {shared}/log"]}}}}
    try:
        create_pod(cluster, ns, "hooked", host.name, [container],
                   volumes=[{"name": "shared", "hostPath": {"path": shared,
                                                            "type": "DirectoryOrCreate"}}],
                   terminationGracePeriodSeconds=20)
        wait_running(cluster, ns, "hooked")
        assert cluster.run(host, ["cat", f"{shared}/post"]).stdout == "started\n"
        cluster.api().delete(f"/api/v1/namespaces/{ns}/pods/hooked").raise_for_status()
        wait_until(lambda: cluster.api().get(f"/api/v1/namespaces/{ns}/pods/hooked"
                                             ).status_code == 404, 60, "the pod to go")
        # the hook ran first, then the process got its SIGTERM
        assert cluster.run(host, ["cat", f"{shared}/log"]).stdout == "prestop\nterm\n"
    finally:
        cluster.run(host, ["rm", "-rf", shared], check=False)


def test_resource_limits_reach_the_containers_cgroup(cluster: Cluster, ns: str) -> None:
    host = cluster.hosts[1]
    app = {**shell("app", "sleep 3600"), "resources": {
        "limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}}}
    pod = create_pod(cluster, ns, "limited", host.name, [app])
    status = wait_running(cluster, ns, "limited")
    assert status["qosClass"] == "Burstable"
    container = _by_name(cluster, host, pod["metadata"]["uid"])["app"]
    config = container.attrs["HostConfig"]
    assert config["Memory"] == 64 * 2**20
    assert config["NanoCpus"] == 500_000_000
    assert config["CpuShares"] == 256  # kubelet's 250m → 256 shares
    # what the kernel enforces, read inside the container (cgroup v2, or v1)
    code, out = container.exec_run(["sh", "-c", "cat /sys/fs/cgroup/memory.max "
                                    "/sys/fs/cgroup/cpu.max 2>/dev/null || "
                                    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                                    "/sys/fs/cgroup/cpu/cpu.cfs_quota_us "
                                    "/sys/fs/cgroup/cpu/cpu.cfs_period_us"])
    assert code == 0, out
    values = out.decode().split()
    assert values[0] == str(64 * 2**20)
    quota, period = int(values[1]), int(values[2])
    assert quota * 1000 // period == 500  # half a CPU


def test_a_memory_backed_empty_dir_is_one_tmpfs_for_the_pod_of_its_size(cluster: Cluster,
                                                                       ns: str) -> None:
    host = cluster.hosts[2]
    mounts = [{"name": "scratch", "mountPath": "/scratch"}]
    writer = {**shell("writer", "echo shared > /scratch/f; sleep 3600"), "volumeMounts": mounts}
    reader = {**shell("reader", "sleep 3600"), "volumeMounts": mounts}
    pod = create_pod(cluster, ns, "tmpfs", host.name, [writer, reader],
                     volumes=[{"name": "scratch", "emptyDir": {"medium": "Memory",
                                                               "sizeLimit": "8Mi"}}])
    wait_running(cluster, ns, "tmpfs")
    reader_container = _by_name(cluster, host, pod["metadata"]["uid"])["reader"]

    def inside(command: str) -> tuple[int, str]:
        code, out = reader_container.exec_run(["sh", "-c", command])
        return code, out.decode()

    # the kernel's view from inside: a tmpfs of 8 MiB, and the sibling's file in it
    assert wait_until(lambda: inside("cat /scratch/f")[1] == "shared\n", 30, "the file")
    code, mounts_text = inside("grep ' /scratch ' /proc/mounts")
    assert code == 0 and mounts_text.split()[2] == "tmpfs" and "size=8192k" in mounts_text
    code, out = inside("dd if=/dev/zero of=/scratch/big bs=1M count=16 2>&1")
    assert code != 0 and "No space left on device" in out
    # the node has it mounted until the pod is deleted, then not
    uid = pod["metadata"]["uid"]
    assert uid in cluster.run(host, ["cat", "/proc/self/mountinfo"], mounts=True).stdout
    cluster.api().delete(f"/api/v1/namespaces/{ns}/pods/tmpfs",
                         params={"gracePeriodSeconds": "1"}).raise_for_status()
    wait_until(lambda: uid not in cluster.run(host, ["cat", "/proc/self/mountinfo"],
                                              mounts=True).stdout, 60,
               "the tmpfs to be unmounted")


def test_a_sidecar_serves_the_init_containers_after_it_and_the_app_then_stops_with_it(
        cluster: Cluster, ns: str) -> None:
    """A sidecar (init container with restartPolicy Always) runs beside the app: the init
    container after it reaches it, a sidecar killed underneath is restarted while the app
    runs, and once the app has finished the sidecar is stopped and the pod Succeeds."""
    host = cluster.hosts[2]
    sidecar = web("proxy", restartPolicy="Always", env=[{"name": "PORT", "value": "8080"},
                                                        {"name": "MESSAGE", "value": "side"}],
                  readinessProbe={"httpGet": {"path": "/healthz", "port": 8080},
                                  "periodSeconds": 1})
    after = shell("check", "timeout 2 wget -qO- http://127.0.0.1:8080/ | grep -q message=side")
    # the app waits for its cue, then succeeds only if the (restarted) sidecar answers
    app = shell("app", "while [ ! -e /done ]; do sleep 0.5; done; "
                       "timeout 2 wget -qO- http://127.0.0.1:8080/ | grep -q message=side")
    pod = create_pod(cluster, ns, "withside", host.name, [app],
                     initContainers=[sidecar, after], restartPolicy="Never")
    status = wait_running(cluster, ns, "withside", timeout=90)
    proxy, check = status["initContainerStatuses"]
    assert "running" in proxy["state"] and proxy["ready"] and proxy["started"]
    assert check["state"]["terminated"]["exitCode"] == 0

    # killed underneath (oracle: docker itself), the sidecar comes back; the app goes on
    first = _by_name(cluster, host, pod["metadata"]["uid"])["proxy"]
    first.kill()
    wait_until(lambda: pod_status(cluster, ns, "withside")["initContainerStatuses"][0]
               .get("restartCount") == 1 and "running" in pod_status(
                   cluster, ns, "withside")["initContainerStatuses"][0]["state"], 60,
               "the sidecar restarted")
    assert pod_status(cluster, ns, "withside")["phase"] == "Running"

    # the app finishes: the sidecar is stopped and the pod completes by the app alone
    client = cluster.docker(host)
    try:
        running_app = _by_name(cluster, host, pod["metadata"]["uid"])["app"]
        client.api.exec_start(client.api.exec_create(running_app.id, ["touch", "/done"]))
    finally:
        client.close()
    done = wait_until(lambda: (s := pod_status(cluster, ns, "withside")).get("phase") ==
                      "Succeeded" and s, 60, "the pod to succeed")
    assert done["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    wait_until(lambda: "terminated" in pod_status(cluster, ns, "withside")
               ["initContainerStatuses"][0]["state"], 30, "the sidecar stopped")
    assert not any(c.status == "running" for c in
                   pod_containers(cluster, host, pod["metadata"]["uid"])
                   if c.labels["org.orch.container.name"] != "POD")


def test_a_pod_writing_past_its_empty_dirs_size_limit_is_evicted(cluster: Cluster,
                                                                  ns: str) -> None:
    host = cluster.hosts[1]
    writer = shell("writer", "dd if=/dev/zero of=/cache/blob bs=1024 count=3072; "
                             "sleep 3600")
    writer["volumeMounts"] = [{"name": "cache", "mountPath": "/cache"}]
    pod = create_pod(cluster, ns, "outgrown", host.name, [writer],
                     volumes=[{"name": "cache", "emptyDir": {"sizeLimit": "1Mi"}}])
    status = wait_until(lambda: (s := pod_status(cluster, ns, "outgrown")).get("phase") ==
                        "Failed" and s, 90, "the pod to be evicted")
    message = 'Usage of EmptyDir volume "cache" exceeds the limit "1Mi". '
    assert (status["reason"], status["message"]) == ("Evicted", message)
    target = next(c for c in status["conditions"] if c["type"] == "DisruptionTarget")
    assert target["status"] == "True" and target["reason"] == "TerminationByKubelet"
    # oracle: docker itself, nothing of the pod runs, and nothing is started again
    wait_until(lambda: not any(c.status == "running" for c in
                               pod_containers(cluster, host, pod["metadata"]["uid"])), 30,
               "the pod's containers stopped")
    events = cluster.api().get(f"/api/v1/namespaces/{ns}/events", params={
        "fieldSelector": "involvedObject.name=outgrown"}).json()["items"]
    assert any(e["reason"] == "Evicted" and e["message"] == message for e in events)
    assert pod_status(cluster, ns, "outgrown")["phase"] == "Failed"


def test_a_safe_sysctl_is_set_in_the_pod_and_an_unsafe_one_rejects_it(cluster: Cluster,
                                                                       ns: str) -> None:
    host = cluster.hosts[0]
    create_pod(cluster, ns, "ports", host.name,
               [shell("show", "cat /proc/sys/net/ipv4/ip_local_port_range; sleep 3600")],
               securityContext={"sysctls": [{"name": "net.ipv4.ip_local_port_range",
                                             "value": "20000 30000"}]})
    wait_running(cluster, ns, "ports")
    # oracle: the kernel, as the container's own /proc reads it
    log = wait_until(lambda: cluster.api().get(
        f"/api/v1/namespaces/{ns}/pods/ports/log").text.split(), 30, "the container's output")
    assert log == ["20000", "30000"]

    create_pod(cluster, ns, "backlog", host.name, [web()],
               securityContext={"sysctls": [{"name": "net.core.somaxconn", "value": "4096"}]})
    status = wait_until(lambda: (s := pod_status(cluster, ns, "backlog")).get("phase") ==
                        "Failed" and s, 60, "the pod to be rejected")
    assert status["reason"] == "SysctlForbidden"
    assert status["message"] == \
        'Pod was rejected: forbidden sysctl: "net.core.somaxconn" not allowlisted'
