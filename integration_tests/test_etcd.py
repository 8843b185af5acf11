"""The lab's etcd cluster: one member per host, writes survive a lost member, members rejoin."""

from __future__ import annotations

import os
import secrets

import pytest

from integration_tests.hosts import Cluster, etcd_members, netns_pids, wait_until


def test_cluster_has_one_started_member_per_host(cluster: Cluster) -> None:
    members = etcd_members(cluster, cluster.hosts[0])
    peer_urls = sorted(url for m in members for url in m["peerURLs"])
    assert peer_urls == sorted(f"http://{h.address}:2380" for h in cluster.hosts)
    for host in cluster.hosts:
        assert cluster.etcd_healthy(host), host.name


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
