"""The lab's hosts are real, separate Docker hosts on one flat pod network."""

from __future__ import annotations

import ipaddress
import os
import re

import pytest

from integration_tests.hosts import Cluster, container_ip, run_container, start_web

IMAGES = ("orch/pause:1", "orch/web:1")
BASE_IMAGES = ("orch/debian:12", "orch/nginx:1.22", "orch/redis:7.0", "orch/python:3.11")


def test_every_host_runs_its_own_dockerd(cluster: Cluster) -> None:
    infos = {}
    for host in cluster.hosts:
        client = cluster.docker(host)
        try:
            infos[host.name] = client.info()
        finally:
            client.close()
    assert len({info["ID"] for info in infos.values()}) == len(cluster.hosts)
    assert {name: info["Name"] for name, info in infos.items()} == {h.name: h.name for h in cluster.hosts}
    if cluster.inventory.kind == "netns":  # /var/lib/docker in each host's mount namespace:
        roots = {cluster.run(h, ["stat", "-c", "%d:%i", infos[h.name]["DockerRootDir"]],
                             mounts=True).stdout for h in cluster.hosts}  # its own directory
        assert len(roots) == len(cluster.hosts), roots


def test_each_dockerd_lives_in_its_hosts_network_namespace(cluster: Cluster) -> None:
    if cluster.inventory.kind != "netns":
        pytest.skip("a netns-lab property")
    for host in cluster.hosts:
        socket_path = host.docker.removeprefix("unix://")
        pids = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, socket_path)
                and _comm(p) == "dockerd"]
        assert len(pids) == 1, f"{host.name}: dockerd processes serving {socket_path}: {pids}"
        assert os.stat(f"/proc/{pids[0]}/ns/net").st_ino == os.stat(f"/run/netns/{host.netns}").st_ino


def test_local_images_are_present_on_every_host(cluster: Cluster) -> None:
    for host in cluster.hosts:
        client = cluster.docker(host)
        try:
            tags = {t for image in client.images.list() for t in image.tags}
        finally:
            client.close()
        assert set(IMAGES) <= tags, f"{host.name} lacks {set(IMAGES) - tags}"


def test_the_base_images_are_the_same_image_on_every_host(cluster: Cluster,
                                                           base_images) -> None:
    """Written as one archive and loaded everywhere: one image ID per tag, on each dockerd."""
    ids: dict[str, set[str]] = {tag: set() for tag in BASE_IMAGES}
    for host in cluster.hosts:
        client = cluster.docker(host)
        try:
            for tag in BASE_IMAGES:
                image = client.images.get(tag)
                ids[tag].add(image.id)
                assert image.labels.get("org.orch-lab.sources"), tag
        finally:
            client.close()
    assert all(len(found) == 1 for found in ids.values()), ids


def test_pause_container_exits_cleanly_on_sigterm(cluster: Cluster) -> None:
    client = cluster.docker(cluster.hosts[0])
    try:
        pause = client.containers.run("orch/pause:1", detach=True,
                                      labels={"org.orch-lab.integration-test": "1"})
        pause.stop(timeout=20)  # SIGTERM; SIGKILL (exit 137) only if ignored for 20 s
        pause.reload()
        assert pause.attrs["State"]["ExitCode"] == 0
    finally:
        client.close()


def test_container_gets_an_ip_in_its_hosts_pod_subnet(cluster: Cluster) -> None:
    for host in cluster.hosts:
        client = cluster.docker(host)
        try:
            code, out = run_container(client, "orch/web:1", ["ip -4 -o addr show dev eth0"])
        finally:
            client.close()
        assert code == 0, out
        address = re.search(r"inet (\S+)/", out).group(1)
        assert ipaddress.ip_address(address) in ipaddress.ip_network(host.pod_cidr), (host.name, out)


@pytest.mark.parametrize("src,dst", [(0, -1), (-1, 1)], ids=["first-to-last", "last-to-second"])
def test_container_reaches_container_on_another_host_by_pod_ip_without_nat(
        cluster: Cluster, src: int, dst: int) -> None:
    if len(cluster.hosts) < 2:
        pytest.skip("needs two hosts")
    src_host, dst_host = cluster.hosts[src], cluster.hosts[dst]
    server_client, client_client = cluster.docker(dst_host), cluster.docker(src_host)
    try:
        web = start_web(server_client, hostname=f"web-on-{dst_host.name}")
        server_ip = container_ip(web)
        assert ipaddress.ip_address(server_ip) in ipaddress.ip_network(dst_host.pod_cidr)
        code, out = run_container(client_client, "orch/web:1", [
            "ip -4 -o addr show dev eth0 | sed 's/.*inet \\([0-9.]*\\).*/me=\\1/'; "
            f"for i in 1 2 3 4 5; do timeout 5 wget -qO- http://{server_ip}/ && exit 0; sleep 1; done; exit 1"])
    finally:
        server_client.close()
        client_client.close()
    assert code == 0, out
    me = re.search(r"me=(\S+)", out).group(1)
    assert f"host=web-on-{dst_host.name} " in out
    seen = re.search(r"client=([0-9.]+):", out).group(1)
    assert seen == me, f"the server saw {seen}, the client is {me}: traffic was NATed"


def _cmdline_has(pid: str, needle: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return needle.encode() in f.read()
    except OSError:
        return False


def _comm(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""
