"""The lab's etcd cluster: one member per host, writes survive a lost member, members rejoin."""

from __future__ import annotations

import os
import secrets

import pytest

from integration_tests.hosts import Cluster, etcd_members, netns_pids, wait_until


def test_cluster_has_one_started_member_per_host(cluster: Cluster) -> None:
    members = etcd_members(cluster, cluster.hosts[0])
    peer_urls = sorted(url for m in members for url in m["peerURLs"])
    scheme = "https" if cluster.inventory.etcd_tls else "http"
    assert peer_urls == sorted(f"{scheme}://{h.address}:2380" for h in cluster.hosts)
    for host in cluster.hosts:
        assert cluster.etcd_healthy(host), host.name


# On a host: GET https://ADDRESS:PORT/PATH trusting etcd's CA, with a client certificate only
# when one is given; prints the status, or the error's class when the request fails.
PEER_GET = """
import ssl, sys, http.client
address, port, path, ca, cert, key = sys.argv[1:7]
context = ssl.create_default_context(cafile=ca)
if cert:
    context.load_cert_chain(cert, key)
try:
    conn = http.client.HTTPSConnection(address, int(port), timeout=10, context=context)
    conn.request("GET", path)
    print(conn.getresponse().status)
except (OSError, http.client.HTTPException) as e:
    print(type(e).__name__)
"""


def test_members_admit_only_clients_and_peers_with_a_certificate_from_etcds_ca(
        cluster: Cluster) -> None:
    tls = cluster.inventory.etcd_tls
    if not tls:
        pytest.skip("the inventory's etcd speaks plain http")
    host = cluster.hosts[0]
    base = ["env", "ETCDCTL_API=3", "etcdctl", "--command-timeout=5s"]
    no_client_cert = cluster.run(host, [*base, f"--endpoints=https://{host.address}:2379",
                                        f"--cacert={tls['cacert']}", "get", "/it"], check=False)
    assert no_client_cert.returncode != 0
    plain = cluster.run(host, [*base, f"--endpoints=http://{host.address}:2379", "get", "/it"],
                        check=False)
    assert plain.returncode != 0
    assert cluster.etcdctl(host, "get", "/it").returncode == 0

    def peer_get(cert: str, key: str) -> str:
        return cluster.run(host, [host.python or "python3", "-c", PEER_GET, host.address, "2380",
                                  "/members", tls["cacert"], cert, key]).stdout.strip()
    assert peer_get("", "") != "200"
    assert peer_get(tls["cert"], tls["key"]) == "200"


def test_a_write_on_one_member_is_read_on_every_other(cluster: Cluster) -> None:
    key, value = f"/it/{secrets.token_hex(4)}", secrets.token_hex(8)
    first, *others = cluster.hosts
    cluster.etcdctl(first, "put", key, value)
    try:
        for host in others:
            assert cluster.etcdctl(host, "get", key, "--print-value-only").stdout.strip() == value
    finally:
        cluster.etcdctl(first, "del", key)


@pytest.mark.fault
def test_writes_go_on_with_one_member_killed_and_the_member_rejoins(cluster: Cluster) -> None:
    if len(cluster.hosts) < 3:
        pytest.skip("quorum with a member down needs three members")
    if cluster.inventory.kind != "netns":
        pytest.skip("kills the member's process directly (netns lab)")
    writer, victim, reader = cluster.hosts[0], cluster.hosts[1], cluster.hosts[2]
    [pid] = netns_pids(victim.netns, "etcd")
    os.kill(pid, 9)
    wait_until(lambda: not cluster.etcd_healthy(victim), 10, f"etcd on {victim.name} to stop answering")

    key, value = f"/it/{secrets.token_hex(4)}", secrets.token_hex(8)
    cluster.etcd_put_eventually(writer, key, value)
    assert cluster.etcdctl(reader, "get", key, "--print-value-only").stdout.strip() == value

    cluster.power_on(victim)  # restarts whichever daemons of the host are not running
    wait_until(lambda: cluster.etcd_healthy(victim),
               60, f"etcd on {victim.name} to rejoin")
    # A serializable read is answered from the member's own copy: it has caught up.
    got = cluster.etcdctl(victim, "get", key, "--print-value-only", "--consistency=s")
    assert got.stdout.strip() == value
    assert netns_pids(victim.netns, "etcd") != [pid]
    cluster.etcdctl(writer, "del", key)
