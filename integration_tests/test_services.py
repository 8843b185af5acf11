"""Services on the live lab: cluster IPs and node ports through the agents' iptables rules, real
requests from pods on every host, DNS and env vars inside pods, and the rules after an agent
restart and a cleanup, checked with iptables-save against what the API's objects call for."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from integration_tests.hosts import Cluster, netns_pids, process_alive, wait_until
from integration_tests.test_pods import (create_pod, pod_containers, shell,
                                         wait_running, web)
from kube.kinds.networkpolicy import NetworkPolicy
from kube.typed import typed_all
from node_agent.netpol.manager import pod_info
from node_agent.netpol.rules import render as render_policies
from node_agent.proxy.iptables import FILTER_CHAINS, NAT_TOP_CHAINS, render
from node_agent.proxy.model import ProxyState

ANSWER = re.compile(r"host=(\S+) client=([0-9.]+):")
CLUSTER_CIDR = "10.244.0.0/16"


# --- helpers ---


def backend(name: str, app: str) -> list[dict]:
    return [web(ports=[{"name": "http", "containerPort": 80}],
                readinessProbe={"httpGet": {"path": "/healthz", "port": "http"},
                                "periodSeconds": 1})]


def create_backends(cluster: Cluster, ns: str, app: str, hosts) -> dict[str, str]:
    """One ready backend pod per host; pod name → pod IP."""
    for host in hosts:
        body_name = f"{app}-{host.name}"
        r = cluster.api().post(f"/api/v1/namespaces/{ns}/pods", json={
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": body_name, "labels": {"app": app}},
            "spec": {"nodeName": host.name, "terminationGracePeriodSeconds": 1,
                     "containers": backend(body_name, app)}})
        assert r.status_code == 201, r.text
    return {f"{app}-{h.name}": wait_running(cluster, ns, f"{app}-{h.name}")["podIP"]
            for h in hosts}


def create_service(cluster: Cluster, ns: str, name: str, app: str, node_port: bool = True,
                   **spec) -> dict:
    r = cluster.api().post(f"/api/v1/namespaces/{ns}/services", json={
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"type": "NodePort" if node_port else "ClusterIP", "selector": {"app": app},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http"}], **spec}})
    assert r.status_code == 201, r.text
    return r.json()


def ready_ips(cluster: Cluster, ns: str, name: str) -> set[str]:
    ep = cluster.api().get(f"/api/v1/namespaces/{ns}/endpoints/{name}").json()
    return {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}


def wait_endpoints(cluster: Cluster, ns: str, name: str, ips: set[str]) -> None:
    wait_until(lambda: ready_ips(cluster, ns, name) == ips, 60,
               f"endpoints of {name} to be {sorted(ips)}")


def dnat_targets(cluster: Cluster, host, cluster_ip: str) -> set[str] | None:
    """The pod IPs the host's rules send `cluster_ip` to, read with the kernel's own tools:
    iptables-save (the SVC chain the cluster IP jumps to, then its SEP chains' DNAT), or, where
    the agents run the IPVS proxy, ipvsadm (the virtual server's real servers); None when there
    is no such rule."""
    if cluster.inventory.raw.get("proxy_mode") == "ipvs":
        done = cluster.run(host, ["ipvsadm", "-Ln", "-t", f"{cluster_ip}:80"], check=False)
        if done.returncode != 0:
            return None
        return set(re.findall(r"->\s+([0-9.]+):\d+", done.stdout))
    saved = cluster.run(host, ["iptables-save", "-t", "nat"]).stdout
    svc = re.search(rf"-A ORCH-SERVICES .*-d {re.escape(cluster_ip)}/32 .*-j (ORCH-SVC-\w+)",
                    saved)
    if not svc:
        return None
    seps = set(re.findall(rf"-A {svc.group(1)} .*-j (ORCH-SEP-\w+)", saved))
    return {m.group(1) for sep in seps
            for m in re.finditer(rf"-A {sep} .*--to-destination ([0-9.]+):", saved)}


def pod_exec(cluster: Cluster, ns: str, pod: str, script: str, container: str = "c"
             ) -> tuple[int, str]:
    obj = cluster.api().get(f"/api/v1/namespaces/{ns}/pods/{pod}").json()
    host = cluster.host(obj["spec"]["nodeName"])
    [target] = [c for c in pod_containers(cluster, host, obj["metadata"]["uid"])
                if c.labels.get("org.orch.container.name") == container]
    code, out = target.exec_run(["sh", "-c", script])
    return code, out.decode()


def requests_from(cluster: Cluster, ns: str, pod: str, url: str, n: int,
                  container: str = "c") -> list[tuple[str, str]]:
    """n GETs of `url` from inside `pod`; (backend pod name, client address it saw) each.
    A failed request is an "ERR" line, so the caller sees how many failed."""
    code, out = pod_exec(cluster, ns, pod, f"for i in $(seq {n}); do timeout 5 wget -qO- "
                                            f"{url} || echo ERR; done", container)
    lines = out.splitlines()
    assert "ERR" not in lines, f"requests from {pod} to {url} failed: {out}"
    return [ANSWER.search(line).groups() for line in lines if ANSWER.search(line)]


def clients(cluster: Cluster, ns: str) -> dict[str, str]:
    """A client pod on every host; pod name → pod IP."""
    for host in cluster.hosts:
        create_pod(cluster, ns, f"client-{host.name}", host.name,
                   [shell("c", "sleep 3600")], terminationGracePeriodSeconds=0)
    return {f"client-{h.name}": wait_running(cluster, ns, f"client-{h.name}")["podIP"]
            for h in cluster.hosts}


# --- tests ---


@pytest.mark.smoke
def test_cluster_ip_from_a_pod_on_every_host_reaches_every_backend_and_node_ports_work(
        cluster: Cluster, ns: str) -> None:
    backends = create_backends(cluster, ns, "web", cluster.hosts)
    svc = create_service(cluster, ns, "web", "web")
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    wait_endpoints(cluster, ns, "web", set(backends.values()))
    for host in cluster.hosts:
        wait_until(lambda: dnat_targets(cluster, host, ip) == set(backends.values()), 30,
                   f"{host.name}'s rules to send {ip} to every backend")
    for pod, pod_ip in clients(cluster, ns).items():
        answers = requests_from(cluster, ns, pod, f"http://{ip}/", 30)
        assert len(answers) == 30
        spread = Counter(name for name, _ in answers)
        print(f"{pod}: {dict(spread)}")
        assert set(spread) == set(backends), f"{pod} did not reach every backend: {spread}"
        assert {seen for _, seen in answers} == {pod_ip}, "the backend must see the pod's IP"
    # a node port on each host, from another host (and from the host itself)
    for host in cluster.hosts:
        for caller in (cluster.hosts[(cluster.hosts.index(host) + 1) % len(cluster.hosts)],
                       host):
            # busybox's wget: on every lab host (a VM has no GNU wget)
            out = cluster.run(caller, ["sh", "-c", f"for i in $(seq 9); do timeout 5 busybox wget "
                                                   f"-qO- http://{host.address}:{node_port}/ "
                                                   f"|| echo ERR; done"]).stdout
            assert "ERR" not in out, f"node port {host.address}:{node_port} from {caller.name}"
            assert {m.group(1) for m in ANSWER.finditer(out)} <= set(backends)
            assert len(ANSWER.findall(out)) == 9
    # the hosts themselves reach the cluster IP
    out = cluster.run(cluster.hosts[0], ["timeout", "5", "busybox", "wget", "-qO-", f"http://{ip}/"]).stdout
    assert ANSWER.search(out), out


def test_a_backend_calling_its_own_service_reaches_itself_too(cluster: Cluster,
                                                                ns: str) -> None:
    backends = create_backends(cluster, ns, "loop", cluster.hosts[:2])
    svc = create_service(cluster, ns, "loop", "loop", node_port=False)
    wait_endpoints(cluster, ns, "loop", set(backends.values()))
    ip = svc["spec"]["clusterIP"]
    for host in cluster.hosts:
        wait_until(lambda: dnat_targets(cluster, host, ip) == set(backends.values()), 30,
                   f"{host.name}'s rules for {ip}")
    me = f"loop-{cluster.hosts[0].name}"
    answers = requests_from(cluster, ns, me, f"http://{ip}/", 20, container="web")
    assert me in {name for name, _ in answers}, f"hairpin: {me} never reached itself"


def test_a_service_without_ready_endpoints_refuses_at_once(cluster: Cluster, ns: str) -> None:
    svc = create_service(cluster, ns, "empty", "nothing-has-this-label")
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    host = cluster.hosts[0]
    wait_until(lambda: ip in cluster.run(host, ["iptables-save", "-t", "filter"]).stdout, 30,
               "the REJECT rule")
    for url in (f"http://{ip}/", f"http://{cluster.hosts[1].address}:{node_port}/"):
        started = time.monotonic()
        done = cluster.run(host, ["timeout", "20", "busybox", "wget", "-O-", url],
                           check=False)
        assert done.returncode != 0
        assert "refused" in done.stderr.lower(), done.stderr
        assert time.monotonic() - started < 15, "the request hung instead of being refused"


def test_scaling_the_backends_changes_where_traffic_goes_on_every_host(cluster: Cluster,
                                                                       ns: str) -> None:
    backends = create_backends(cluster, ns, "scale", cluster.hosts)
    svc = create_service(cluster, ns, "scale", "scale", node_port=False)
    ip = svc["spec"]["clusterIP"]
    wait_endpoints(cluster, ns, "scale", set(backends.values()))
    for host in cluster.hosts:
        wait_until(lambda: dnat_targets(cluster, host, ip) == set(backends.values()), 30,
                   f"{host.name}'s rules for {ip}")
    gone = f"scale-{cluster.hosts[0].name}"
    cluster.api().delete(f"/api/v1/namespaces/{ns}/pods/{gone}",
                         json={"gracePeriodSeconds": 0})
    remaining = {n: i for n, i in backends.items() if n != gone}
    wait_endpoints(cluster, ns, "scale", set(remaining.values()))
    changed = time.monotonic()
    lags = {}
    for host in cluster.hosts:  # generous deadline; the figure is printed (bench: p50/p99)
        wait_until(lambda: dnat_targets(cluster, host, ip) == set(remaining.values()), 10,
                   f"{host.name}'s rules to drop {gone}", interval=0.05)
        lags[host.name] = round(time.monotonic() - changed, 2)
    print(f"rules changed on every host within {max(lags.values()):.2f} s of the Endpoints "
          f"change (upper bound, hosts checked in turn): {lags}")
    pods = clients(cluster, ns)
    for pod in pods:
        answers = requests_from(cluster, ns, pod, f"http://{ip}/", 12)
        assert {name for name, _ in answers} <= set(remaining), answers


@pytest.mark.smoke
def test_pods_find_a_service_by_dns_name_and_env_vars(cluster: Cluster, ns: str) -> None:
    backends = create_backends(cluster, ns, "named", cluster.hosts[:1])
    svc = create_service(cluster, ns, "named", "named", node_port=False)
    ip = svc["spec"]["clusterIP"]
    wait_endpoints(cluster, ns, "named", set(backends.values()))
    host = cluster.hosts[-1]
    create_pod(cluster, ns, "asker", host.name, [shell("c", "sleep 3600")],
               terminationGracePeriodSeconds=0)
    wait_running(cluster, ns, "asker")
    for name in ("named", f"named.{ns}", f"named.{ns}.svc.cluster.local"):
        # the C library's resolver (search path, ndots:5), as applications use it; ping prints
        # the address it resolved (the cluster IP does not answer pings: only the name counts)
        code, out = pod_exec(cluster, ns, "asker", f"ping -c 1 -W 1 {name} 2>&1 | head -1")
        assert f"({ip})" in out, f"{name}: {out}"
        answers = wait_until(lambda: requests_from(cluster, ns, "asker", f"http://{name}/", 1),
                             30, f"http://{name}/ to answer")
        assert answers[0][0] == f"named-{cluster.hosts[0].name}"
    code, out = pod_exec(cluster, ns, "asker", f"nslookup named.{ns}.svc.cluster.local.")
    assert f"Address: {ip}" in out, out
    code, out = pod_exec(cluster, ns, "asker", "nslookup nothing-here")
    assert "NXDOMAIN" in out, out
    code, out = pod_exec(cluster, ns, "asker",
                         f"nslookup -type=SRV _http._tcp.named.{ns}.svc.cluster.local")
    assert f"0 100 80 named.{ns}.svc.cluster.local" in out, out
    # an ExternalName Service is a CNAME to its name (no address, no proxying)
    cluster.api().post(f"/api/v1/namespaces/{ns}/services", json={
        "metadata": {"name": "docs"}, "spec": {"type": "ExternalName",
                                               "externalName": f"named.{ns}.svc.cluster.local"}}
    ).raise_for_status()
    code, out = pod_exec(cluster, ns, "asker", f"nslookup -type=CNAME docs.{ns}.svc.cluster.local")
    assert f"canonical name = named.{ns}.svc.cluster.local" in out, out
    code, out = pod_exec(cluster, ns, "asker", "env")
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert env.get("NAMED_SERVICE_HOST") == ip and env.get("NAMED_SERVICE_PORT") == "80"
    assert env.get("NAMED_PORT_80_TCP") == f"tcp://{ip}:80"


# --- the rules against what the API calls for ---


def expected_chains(cluster: Cluster, host) -> dict[str, set[str]]:
    """The chains `host`'s agent should hold, from the API's objects: the proxy's, the pod
    network's, and the network policies' (node_agent/netpol)."""
    api = cluster.api()
    services = api.get("/api/v1/services").json()["items"]
    endpoints = api.get("/api/v1/endpoints").json()["items"]
    ruleset = render(ProxyState.build(services, endpoints, host.name), CLUSTER_CIDR)
    pods = [i for p in api.get("/api/v1/pods").json()["items"] if (i := pod_info(p))]
    namespaces = {n["metadata"]["name"]: n["metadata"].get("labels") or {}
                  for n in api.get("/api/v1/namespaces").json()["items"]}
    policies = typed_all(NetworkPolicy, api.get(
        "/apis/networking.k8s.io/v1/networkpolicies").json()["items"])
    netpol = render_policies(policies, pods, namespaces, host.name)
    return {"nat": {*NAT_TOP_CHAINS, "ORCH-POD-MASQ",
                    *(c for b in ruleset.blocks.values() for c in b.chains)},
            "filter": {*FILTER_CHAINS, "ORCH-POD-FORWARD", *netpol.chains}}


def our_chains(cluster: Cluster, host) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for table in ("nat", "filter"):
        saved = cluster.run(host, ["iptables-save", "-t", table]).stdout
        out[table] = {line[1:].split()[0] for line in saved.splitlines()
                      if line.startswith(":ORCH-")}
    return out


def test_after_an_agent_restart_and_a_cleanup_the_chains_are_exactly_the_expected_ones(
        cluster: Cluster, ns: str) -> None:
    if cluster.inventory.kind != "netns":
        pytest.skip("kills the agent's process directly (netns lab)")
    backends = create_backends(cluster, ns, "keep", cluster.hosts[:2])
    svc = create_service(cluster, ns, "keep", "keep")
    ip = svc["spec"]["clusterIP"]
    wait_endpoints(cluster, ns, "keep", set(backends.values()))
    host = cluster.hosts[-1]
    wait_until(lambda: dnat_targets(cluster, host, ip) == set(backends.values()), 30,
               f"{host.name}'s rules for {ip}")
    [agent] = netns_pids(host.netns, "node-agent")
    os.kill(agent, signal.SIGKILL)
    wait_until(lambda: not process_alive(agent), 10, "the agent to die")
    # the rules stay while the agent is down: traffic goes on
    out = cluster.run(host, ["timeout", "5", "busybox", "wget", "-qO-", f"http://{ip}/"]).stdout
    assert ANSWER.search(out), out
    cluster.power_on(host)  # restarts the agent
    wait_until(lambda: our_chains(cluster, host) == expected_chains(cluster, host), 30,
               f"{host.name}'s chains to be exactly those the API's services call for")
    out = cluster.run(host, ["timeout", "5", "busybox", "wget", "-qO-", f"http://{ip}/"]).stdout
    assert ANSWER.search(out), out

    node_agent = str(Path(sys.executable).parent / "node-agent")
    [agent] = netns_pids(host.netns, "node-agent")
    os.kill(agent, signal.SIGKILL)  # else it would put the rules back
    wait_until(lambda: not process_alive(agent), 10, "the agent to die")
    done = cluster.run(host, [node_agent, "cleanup"])
    assert "removed" in done.stdout
    assert our_chains(cluster, host) == {"nat": set(), "filter": set()}
    saved = cluster.run(host, ["iptables-save"]).stdout
    assert "ORCH-" not in saved, saved
    assert "nothing to remove" in cluster.run(host, [node_agent, "cleanup"]).stdout
    cluster.power_on(host)
    wait_until(lambda: our_chains(cluster, host) == expected_chains(cluster, host), 30,
               f"{host.name}'s chains to come back after the cleanup")
