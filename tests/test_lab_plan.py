"""The lab's address and path plan: a pure function of (name, host count)."""

from __future__ import annotations

import ipaddress

import pytest

from lab.plan import (PlanError, dockerd_argv, dockerd_shell, etcd_argv, host_routes, make_plan,
                      master_argv, mount_ns_setup_shell)


@pytest.mark.parametrize("index,address,pod_cidr,netns", [
    (1, "192.168.56.11", "10.244.1.0/24", "lab-host1"),
    (2, "192.168.56.12", "10.244.2.0/24", "lab-host2"),
    (3, "192.168.56.13", "10.244.3.0/24", "lab-host3"),
], ids=["host1", "host2", "host3"])
def test_host_i_gets_the_documented_address_subnet_and_namespace(index, address, pod_cidr, netns):
    host = make_plan("lab", 3).hosts[index - 1]
    assert (host.name, host.address, host.pod_cidr, host.netns) == (f"host{index}", address, pod_cidr, netns)
    assert host.pod_gateway_cidr == f"10.244.{index}.1/24"


@pytest.mark.parametrize("name", ["lab", "a", "ci2", "abcdefghijkl"], ids=str)
def test_valid_lab_names_are_accepted(name):
    assert make_plan(name, 1).name == name


@pytest.mark.parametrize("name", ["", "Lab", "1lab", "la-b", "la_b", "../etc", "abcdefghijklm", "lab "],
                         ids=["empty", "uppercase", "digit-first", "dash", "underscore", "path",
                              "too-long", "space"])
def test_invalid_lab_names_are_refused_with_the_rule(name):
    with pytest.raises(PlanError, match="lowercase letters and digits"):
        make_plan(name, 1)


@pytest.mark.parametrize("n", [0, -1, 10], ids=str)
def test_host_count_out_of_range_is_refused(n):
    with pytest.raises(PlanError, match=f"--hosts {n} is out of range"):
        make_plan("lab", n)


def test_two_labs_share_no_namespace_cgroup_socket_or_directory():
    a, b = make_plan("alpha", 3), make_plan("beta", 3)

    def names(plan):
        out = set(plan.netns_names) | {str(plan.run_dir), str(plan.data_dir)}
        for h in plan.hosts:
            out |= {h.cgroup_parent, str(h.docker_socket), str(h.mount_ns_file),
                    str(h.docker_data_root), str(h.etcd_data_dir)}
        return out

    assert names(a).isdisjoint(names(b))


def test_unix_socket_paths_fit_the_kernel_limit_for_the_longest_name():
    plan = make_plan("a" * 12, 9)
    for h in plan.hosts:
        longest = h.docker_exec_root / "containerd" / "containerd.sock.ttrpc"
        assert len(str(longest)) < 108
        assert len(str(h.docker_socket)) < 108


def test_every_host_routes_every_other_hosts_pod_subnet_via_that_host():
    plan = make_plan("lab", 3)
    assert host_routes(plan, plan.hosts[0]) == [("10.244.2.0/24", "192.168.56.12"),
                                                ("10.244.3.0/24", "192.168.56.13")]
    for h in plan.hosts:
        routes = host_routes(plan, h)
        assert h.pod_cidr not in [dst for dst, _ in routes]
        assert len(routes) == len(plan.hosts) - 1


def test_pod_subnets_are_disjoint_and_inside_the_pod_supernet():
    plan = make_plan("lab", 9)
    nets = [ipaddress.ip_network(h.pod_cidr) for h in plan.hosts]
    assert all(n.subnet_of(ipaddress.ip_network("10.244.0.0/16")) for n in nets)
    assert len(set(nets)) == len(nets)


def test_dockerd_keeps_pod_ips_and_uses_only_its_own_paths():
    host = make_plan("lab", 3).hosts[1]
    argv = dockerd_argv(host)
    assert "--ip-masq=false" in argv and "--userland-proxy=false" in argv
    assert "--bip=10.244.2.1/24" in argv
    assert f"--host=unix://{host.docker_socket}" in argv
    assert f"--cgroup-parent=/{host.cgroup_parent}" in argv
    for flag in ("--exec-root", "--pidfile"):
        [value] = [a.split("=", 1)[1] for a in argv if a.startswith(flag + "=")]
        assert value.startswith(("/run/orch-lab/lab/host2", "/var/lib/orch-lab/lab/host2"))
    # the host's own /var/lib/docker: its mount namespace binds the host's directory there
    assert "--data-root=/var/lib/docker" in argv
    assert f"mount --bind {host.docker_data_root} /var/lib/docker" in mount_ns_setup_shell(host)
    assert dockerd_shell(host).startswith("hostname host2 && exec dockerd ")


def test_each_host_mount_namespace_gets_private_runtime_dirs_and_engine_id():
    script = mount_ns_setup_shell(make_plan("lab", 3).hosts[0])
    assert "mount -t tmpfs tmpfs /run/docker" in script
    assert "mount -t tmpfs tmpfs /run/containerd" in script
    assert "mount --bind /var/lib/orch-lab/lab/host1/etc-docker /etc/docker" in script
    assert "mount --bind /var/lib/orch-lab/lab/host1/log/pods /var/log/pods" in script
    assert ("mount --bind /var/lib/orch-lab/lab/host1/log/containers /var/log/containers"
            in script)


def test_etcd_members_list_the_whole_cluster_and_listen_on_host_and_loopback():
    plan = make_plan("lab", 3)
    argv = etcd_argv(plan, plan.hosts[2])
    assert "--name=h3" in argv
    assert ("--initial-cluster=h1=https://192.168.56.11:2380,h2=https://192.168.56.12:2380,"
            "h3=https://192.168.56.13:2380") in argv
    assert "--listen-client-urls=https://192.168.56.13:2379,https://127.0.0.1:2379" in argv
    assert "--initial-cluster-token=orch-lab-lab" in argv


def test_etcd_members_speak_mutual_tls_with_clients_and_peers():
    plan = make_plan("lab", 3)
    argv = etcd_argv(plan, plan.hosts[2])
    pki = plan.pki_dir
    for flag in (f"--cert-file={pki}/etcd-member-host3.crt", f"--peer-cert-file={pki}/etcd-member-host3.crt",
                 f"--key-file={pki}/etcd-member-host3.key", f"--trusted-ca-file={pki}/etcd-ca.crt",
                 f"--peer-trusted-ca-file={pki}/etcd-ca.crt", "--client-cert-auth",
                 "--peer-client-cert-auth"):
        assert flag in argv
    master = master_argv(plan, plan.hosts[0], "orchestrator")
    assert f"--etcd-certfile={pki}/apiserver-etcd-client.crt" in master
    assert f"--etcd-cafile={pki}/etcd-ca.crt" in master


@pytest.mark.parametrize("key", ["host2", "lab-host2", "192.168.56.12"], ids=str)
def test_a_host_is_found_by_name_namespace_or_address(key):
    assert make_plan("lab", 3).host(key).index == 2


def test_an_unknown_host_is_refused_with_the_known_ones():
    with pytest.raises(PlanError, match=r"no host 'host9' \(hosts: host1, host2, host3\)"):
        make_plan("lab", 3).host("host9")
