"""Faults the lab can inject: a host whose power is pulled, a host cut off the network."""

from __future__ import annotations

import secrets

import pytest

from integration_tests.hosts import Cluster, netns_pids, process_alive, start_web, wait_until

pytestmark = pytest.mark.fault


def test_a_powered_off_host_loses_everything_and_comes_back(cluster: Cluster) -> None:
    if len(cluster.hosts) < 3:
        pytest.skip("etcd keeps quorum with one host down only with three hosts")
    first, victim = cluster.hosts[0], cluster.hosts[-1]
    client = cluster.docker(victim)
    try:
        web = start_web(client)
        web_pid, web_id = web.attrs["State"]["Pid"], web.id
    finally:
        client.close()
    assert process_alive(web_pid)

    cluster.power_off(victim)
    assert not cluster.docker_answers(victim)
    assert not process_alive(web_pid), "the container's process survived its host's power-off"
    if cluster.inventory.kind == "netns":
        survivors = netns_pids(victim.netns)
        assert survivors == [], f"processes left on {victim.name}: {survivors}"
    assert not cluster.ping(first, victim.address), "a powered-off host answered ping"
    key = f"/it/{secrets.token_hex(4)}"
    cluster.etcd_put_eventually(first, key, "written-while-a-host-was-down")

    cluster.power_on(victim)
    assert cluster.docker_answers(victim)
    assert cluster.ping(first, victim.address)
    wait_until(lambda: cluster.etcd_healthy(victim), 60,
               f"etcd on {victim.name} to rejoin")
    got = cluster.etcdctl(victim, "get", key, "--print-value-only", "--consistency=s")
    assert got.stdout.strip() == "written-while-a-host-was-down"
    cluster.etcdctl(first, "del", key)
    client = cluster.docker(victim)
    try:
        # dockerd remembers the container, which died with the host (restart policy "no").
        assert client.containers.get(web_id).status == "exited"
        fresh = start_web(client)
        assert fresh.status == "running" or fresh.attrs["State"]["Running"]
    finally:
        client.close()


@pytest.mark.smoke
def test_a_partitioned_host_is_unreachable_until_healed(cluster: Cluster) -> None:
    if len(cluster.hosts) < 2:
        pytest.skip("needs two hosts")
    first, victim = cluster.hosts[0], cluster.hosts[1]
    assert cluster.ping(first, victim.address)
    cluster.partition(victim)
    try:
        assert not cluster.ping(first, victim.address)
        assert not cluster.ping(victim, first.address)
        assert cluster.docker_answers_on_host(victim), \
            "a partition must not stop the host's daemons"
    finally:
        cluster.heal(victim)
    wait_until(lambda: cluster.ping(first, victim.address), 20, f"{victim.name} to answer again")
