"""LoadBalancer Services on the live lab, reached from the client machine (on the lab network,
not a node) as a user's machine would: an address from the pool in the Service's status, one
node answering ARP for it (found from the client's own ARP table), another answering within
seconds after that node is powered off, the address back in the pool once the Service is gone,
and externalTrafficPolicy Local announced only where an endpoint runs, keeping the client's
address."""

from __future__ import annotations

import ipaddress
import re
import time

import pytest

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_services import ANSWER, create_backends

EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"


def pool(cluster: Cluster) -> list[str]:
    first, _, last = cluster.inventory.network["load_balancer_pool"].partition("-")
    a, b = int(ipaddress.IPv4Address(first)), int(ipaddress.IPv4Address(last))
    return [str(ipaddress.IPv4Address(n)) for n in range(a, b + 1)]


def create_lb(cluster: Cluster, ns: str, name: str, app: str, **spec) -> None:
    r = cluster.api().post(f"/api/v1/namespaces/{ns}/services", json={
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"type": "LoadBalancer", "selector": {"app": app},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http"}], **spec}})
    assert r.status_code == 201, r.text


def lb_address(cluster: Cluster, ns: str, name: str) -> str:
    def address() -> str | None:
        svc = cluster.api().get(f"/api/v1/namespaces/{ns}/services/{name}").json()
        ingress = (svc.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        return ingress[0].get("ip") if ingress else None
    return wait_until(address, 30, f"an address for service {name}")


def fetch(cluster: Cluster, address: str, seconds: int = 3) -> str | None:
    """GET / from the client machine; the answer, or None when nothing answered."""
    done = cluster.on_client(["curl", "-s", "--max-time", str(seconds), f"http://{address}/"],
                             check=False, timeout=seconds + 10)
    return done.stdout if done.returncode == 0 else None


def announcer(cluster: Cluster, address: str) -> str | None:
    """The host that answers the client's ARP request for `address` now: the client's entry
    is flushed (a stale one, from an earlier Service with the same address, would still be
    used: every node forwards the address), a request sent, and the new entry read."""
    cluster.on_client(["ip", "neigh", "flush", "to", address], check=False)
    fetch(cluster, address, 2)
    neigh = cluster.on_client(["ip", "neigh", "show", address], check=False).stdout
    found = re.search(r"lladdr ([0-9a-f:]{17})", neigh)
    if not found:
        return None
    for host in cluster.hosts:
        link = cluster.run(host, ["ip", "-o", "link", "show", "eth0"], check=False).stdout
        if found.group(1) in link:
            return host.name
    return None


def label_node(cluster: Cluster, node: str, labels: dict) -> None:
    cluster.api().patch(f"/api/v1/nodes/{node}", json={"metadata": {"labels": labels}},
                        headers={"Content-Type": "application/merge-patch+json"}
                        ).raise_for_status()


@pytest.fixture
def client_machine(cluster: Cluster):
    if cluster.inventory.client is None:
        pytest.skip("the inventory has no client machine")
    return cluster.inventory.client


def test_the_client_is_on_the_lan_but_not_in_the_cluster(cluster: Cluster, client_machine):
    assert client_machine.address in cluster.on_client(["ip", "-o", "-4", "addr", "show"]).stdout
    node = cluster.hosts[0]
    assert cluster.on_client(["busybox", "ping", "-c", "1", "-W", "2",
                                             node.address]).returncode == 0
    if client_machine.netns:  # (a workstation may have routes of its own)
        routes = cluster.on_client(["ip", "route"]).stdout
        assert "10.244." not in routes and "10.96." not in routes  # no way to pods or services


@pytest.mark.fault
def test_a_load_balancer_address_answers_from_outside_and_moves_when_its_node_dies(
        cluster: Cluster, ns: str, client_machine) -> None:
    if len(cluster.hosts) < 3 or not cluster.inventory.control:
        pytest.skip("needs 3 hosts and a lab that can power hosts off")
    first = cluster.hosts[0].name  # the suite reaches the API through it: it never announces
    label_node(cluster, first, {EXCLUDE: ""})
    victim = None
    try:
        backends = create_backends(cluster, ns, "lbweb", cluster.hosts)
        create_lb(cluster, ns, "front", "lbweb")
        address = lb_address(cluster, ns, "front")
        assert address in pool(cluster)
        svc = cluster.api().get(f"/api/v1/namespaces/{ns}/services/front").json()
        assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": address, "ipMode": "VIP"}]
        assert all(p.get("nodePort") for p in svc["spec"]["ports"])  # allocated as well
        answer = wait_until(lambda: fetch(cluster, address), 30, f"{address} to answer")
        assert ANSWER.search(answer).group(1) in backends  # a backend pod answered
        victim = wait_until(lambda: announcer(cluster, address), 10, "the announcing node")
        assert victim != first
        holder = cluster.api().get(f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/"
                                   "orch-lb-front").json()["spec"]["holderIdentity"]
        assert holder == victim  # the node holding the Service's Lease answers ARP

        def told(reason: str, words: str) -> bool:  # Events are written in the background
            events = cluster.api().get(f"/api/v1/namespaces/{ns}/events").json()["items"]
            return any(e["reason"] == reason and words in e["message"] for e in events)
        wait_until(lambda: told("nodeAssigned", f'node "{victim}"'), 30,
                   f"a nodeAssigned Event naming {victim}")
        wait_until(lambda: told("IPAllocated", address), 30, "an IPAllocated Event")

        cluster.power_off(cluster.host(victim))
        killed = time.monotonic()
        wait_until(lambda: fetch(cluster, address, 1), 60, f"{address} to answer again")
        print(f"\n{address} answered again {time.monotonic() - killed:.1f} s after "
              f"{victim} was powered off")
        survivor = announcer(cluster, address)
        assert survivor not in (None, victim, first), survivor

        cluster.api().delete(f"/api/v1/namespaces/{ns}/services/front").raise_for_status()
        wait_until(lambda: fetch(cluster, address, 1) is None, 30,
                   f"{address} to stop answering")
        create_lb(cluster, ns, "again", "lbweb")  # the address is back in the pool
        assert lb_address(cluster, ns, "again") == address
    finally:
        if victim is not None:
            cluster.power_on(cluster.host(victim))
            wait_until(lambda: all(c["status"] == "True" for c in cluster.api().get(
                f"/api/v1/nodes/{victim}").json()["status"]["conditions"]
                if c["type"] == "Ready"), 120, f"{victim} ready again")
        label_node(cluster, first, {EXCLUDE: None})


def test_policy_local_is_announced_where_the_endpoint_runs_and_keeps_the_client_address(
        cluster: Cluster, ns: str, client_machine) -> None:
    where = cluster.hosts[-1]
    create_backends(cluster, ns, "localweb", [where])
    create_lb(cluster, ns, "local", "localweb", externalTrafficPolicy="Local")
    address = lb_address(cluster, ns, "local")
    answer = wait_until(lambda: fetch(cluster, address), 30, f"{address} to answer")
    host, client = ANSWER.search(answer).groups()
    assert host == f"localweb-{where.name}"
    assert client == client_machine.address  # not masqueraded
    assert announcer(cluster, address) == where.name


def test_an_exhausted_pool_leaves_a_service_pending_and_says_why(cluster: Cluster,
                                                                 ns: str) -> None:
    wanted = pool(cluster)[-1]
    create_lb(cluster, ns, "asks", "none", loadBalancerIP=wanted)
    assert lb_address(cluster, ns, "asks") == wanted
    create_lb(cluster, ns, "same", "none", loadBalancerIP=wanted)

    def refused() -> bool:
        events = cluster.api().get(f"/api/v1/namespaces/{ns}/events").json()["items"]
        return any(e["reason"] == "AllocationFailed" and e["involvedObject"]["name"] == "same"
                   and "already in use" in e["message"] for e in events)
    wait_until(refused, 30, "an AllocationFailed event for the second service")
    same = cluster.api().get(f"/api/v1/namespaces/{ns}/services/same").json()
    assert not (same.get("status") or {}).get("loadBalancer", {}).get("ingress")
