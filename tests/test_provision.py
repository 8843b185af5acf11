"""The Vagrant lab's pure parts: the cluster spec, what a real host's units and configuration
say, the inventory the workstation writes, and the ssh command line the suite runs."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from lab.inventory import parse_inventory, ssh_argv
from lab.provision import (ClusterSpec, SpecError, docker_daemon_json, parse_spec, pki_files,
                           render_host)
from lab.vagrant import NOT_IN_BUNDLE, make_spec, render_inventory


def spec(masters: int = 1, mode: str = "iptables") -> ClusterSpec:
    return make_spec(masters, mode)


def test_the_spec_round_trips_and_names_its_hosts() -> None:
    s = spec()
    assert [(h.name, h.address, h.pod_cidr) for h in s.hosts] == [
        ("node1", "192.168.56.11", "10.244.1.0/24"), ("node2", "192.168.56.12", "10.244.2.0/24"),
        ("node3", "192.168.56.13", "10.244.3.0/24")]
    assert parse_spec(json.loads(json.dumps(s.to_json()))) == s


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("hosts"), "spec.hosts is missing"),
    (lambda d: d["hosts"][1].pop("pod_cidr"), "spec.hosts[1].pod_cidr is missing"),
    (lambda d: d["hosts"][0].update(address="node-one"), "spec.hosts[0]"),
    (lambda d: d.update(masters=["node9"]), "no host 'node9'"),
    (lambda d: d.update(masters=[]), "spec.masters is empty"),
    (lambda d: d.update(proxy_mode="userspace"), "spec.proxy_mode 'userspace'"),
])
def test_a_bad_spec_is_refused_naming_the_field(change, message) -> None:
    data = spec().to_json()
    change(data)
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_spec(data)


def test_the_master_host_runs_a_master_and_the_others_do_not() -> None:
    s = spec()
    node1 = render_host(s, s.host("node1"))
    node2 = render_host(s, s.host("node2"))
    master = Path("/etc/systemd/system/orch-master.service")
    assert master in node1 and master not in node2
    assert "--etcd-servers=https://192.168.56.11:2379,https://192.168.56.12:2379," \
           "https://192.168.56.13:2379" in node1[master]
    assert "--etcd-keyfile=/etc/orch/pki/apiserver-etcd-client.key" in node1[master]
    assert "Restart=always" in node1[master]
    assert "--node-monitor-grace-period=20" in node1[master]  # VMs pause: a longer grace


def test_every_host_runs_one_member_of_one_etcd_cluster() -> None:
    s = spec()
    units = [render_host(s, h)[Path("/etc/systemd/system/orch-etcd.service")] for h in s.hosts]
    cluster = ("--initial-cluster=node1=https://192.168.56.11:2380,"
               "node2=https://192.168.56.12:2380,node3=https://192.168.56.13:2380")
    assert all(cluster in u and "User=etcd" in u for u in units)
    assert "--name=node2" in units[1]
    assert "--election-timeout=5000" in units[1]  # emulated VMs miss 100 ms heartbeats
    assert "--listen-client-urls=https://192.168.56.12:2379,https://127.0.0.1:2379" in units[1]
    assert "--client-cert-auth --peer-cert-file=/etc/orch/pki/etcd-member-node2.crt" in units[1]
    etcdctl = render_host(s, s.host("node2"))[Path("/etc/profile.d/orch-etcdctl.sh")]
    assert "export ETCDCTL_CERT=/etc/orch/pki/etcdctl-client.crt\n" in etcdctl


def test_dockerd_gets_the_pod_bridge_no_masquerade_and_a_tls_only_listener() -> None:
    s = spec()
    config = docker_daemon_json(s.host("node2"))
    assert config["bip"] == "10.244.2.1/24" and config["ip-masq"] is False
    assert config["userland-proxy"] is False and config["tlsverify"] is True
    drop_in = render_host(s, s.host("node2"))[
        Path("/etc/systemd/system/docker.service.d/orch.conf")]
    assert "ExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:2376" in drop_in


def test_the_agent_takes_its_proxy_mode_from_its_environment_file() -> None:
    s = spec(masters=3, mode="ipvs")
    files = render_host(s, s.host("node3"))
    agent = files[Path("/etc/systemd/system/orch-agent.service")]
    assert "EnvironmentFile=/etc/orch/agent.env" in agent
    assert "--proxy-mode=${PROXY_MODE}" in agent
    assert "--api=https://192.168.56.11:6443,https://192.168.56.12:6443," \
           "https://192.168.56.13:6443" in agent
    assert "--node-name=node3 --node-ip=192.168.56.13 --pod-cidr=10.244.3.0/24" in agent
    assert files[Path("/etc/orch/agent.env")] == "PROXY_MODE=ipvs\n"
    with_iface = render_host(s, s.host("node3"), "eth1")[Path("/etc/systemd/system/orch-agent.service")]
    assert "ExecStartPre=-/sbin/ip route replace 10.96.0.0/12 dev eth1" in with_iface


def test_a_host_gets_only_the_credentials_its_roles_need() -> None:
    s = spec()
    worker = pki_files(s, s.host("node2"))
    master = pki_files(s, s.host("node1"))
    assert "tokens.json" not in worker and "apiserver.key" not in worker
    assert "node-node1.token" not in worker and "node-node2.token" in worker
    assert {"tokens.json", "apiserver.key", "apiserver-agent-client.key"} <= set(master)
    assert {"etcd-member-node2.key", "etcd-ca.crt", "etcdctl-client.key"} <= set(worker)
    assert "etcd-member-node1.key" not in worker and "apiserver-etcd-client.key" not in worker
    assert "apiserver-etcd-client.key" in master
    assert not (set(master) | set(worker)) & NOT_IN_BUNDLE  # never the CA key or admin token


def test_the_workstation_inventory_is_a_valid_vagrant_inventory(tmp_path: Path) -> None:
    s = spec()
    keys = {h.name: f"/keys/{h.name}" for h in s.hosts}
    inv = parse_inventory(render_inventory(s, tmp_path, "iptables", True, keys))
    assert inv.kind == "vagrant" and inv.api == "https://192.168.56.11:6443"
    assert inv.etcd_tls["cacert"] == "/etc/orch/pki/etcd-ca.crt"  # etcdctl runs on the VMs
    node2 = inv.host("node2")
    assert node2.docker == "tcp://192.168.56.12:2376"
    assert node2.ssh == {"host": "192.168.56.12", "port": 22, "user": "vagrant",
                         "identity_file": "/keys/node2"}
    assert node2.python == "/opt/orch/venv/bin/python"  # where provisioning installs the project
    assert inv.raw["docker_tls"]["client_cert"] == str(tmp_path / "pki" / "docker-client.crt")
    assert inv.raw["timeout_scale"] > 1


def test_ssh_runs_the_command_as_root_with_its_arguments_intact() -> None:
    argv = ssh_argv({"host": "192.168.56.12", "identity_file": "/k"},
                    ["sh", "-c", "echo 'a b' $HOME"])
    assert argv[0] == "ssh" and "vagrant@192.168.56.12" in argv
    assert argv[argv.index("-i") + 1] == "/k"
    assert argv[-3:-1] == ["sudo", "--"]
    assert shlex.split(argv[-1]) == ["sh", "-c", "echo 'a b' $HOME"]
