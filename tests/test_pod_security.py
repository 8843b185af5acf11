"""A pod's securityContext, namespaces, hostPorts and hostAliases as the runtime gets them
(node_agent/pods/containers.py), and as docker's options (node_agent/runtime/docker.py)."""

from __future__ import annotations

import pytest

from kube.kinds.pod import Pod
from kube.validation import Invalid, validate_create
from kube.registry import by_kind
from node_agent.pods.containers import (container_config, needs_image_user, non_root_problem,
                                        sandbox_config, security)
from node_agent.runtime.docker import container_options, sandbox_options
from node_agent.runtime.protocol import PortMapping, Security


def pod(spec=None, container=None):
    return Pod.model_validate({
        "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
        "spec": {"containers": [{"name": "c", "image": "orch/web:1", **(container or {})}],
                 **(spec or {})}})


def test_the_containers_context_wins_over_the_pods():
    p = pod({"securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000,
                                 "supplementalGroups": [4000, 2000]}},
            {"securityContext": {"runAsUser": 1001, "readOnlyRootFilesystem": True,
                                 "allowPrivilegeEscalation": False,
                                 "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                                 "seccompProfile": {"type": "RuntimeDefault"}}})
    assert security(p, p.spec.containers[0]) == Security(
        user="1001:3000", groups=(2000, 4000), read_only_root=True, cap_add=("NET_ADMIN",),
        cap_drop=("ALL",), no_new_privileges=True, seccomp="runtime-default")


def test_defaults_are_kubernetes_defaults():
    p = pod()
    assert security(p, p.spec.containers[0]) == Security(user=None, seccomp="unconfined")
    assert not needs_image_user(p, p.spec.containers[0])


def test_a_group_without_a_user_keeps_the_images_user():
    p = pod({"securityContext": {"runAsGroup": 50}})
    assert needs_image_user(p, p.spec.containers[0])
    assert security(p, p.spec.containers[0], "nginx").user == "nginx:50"
    assert security(p, p.spec.containers[0], "").user == "0:50"


@pytest.mark.parametrize("context,image_user,problem", [
    ({"runAsNonRoot": True}, "", "image will run as root"),
    ({"runAsNonRoot": True}, "0:0", "image will run as root"),
    ({"runAsNonRoot": True}, "nginx", "non-numeric user (nginx)"),
    ({"runAsNonRoot": True}, "1000", None),
    ({"runAsNonRoot": True, "runAsUser": 0}, "1000", "runAsUser breaks non-root policy"),
    ({"runAsNonRoot": True, "runAsUser": 7}, "", None),
    ({"runAsNonRoot": False}, "", None),
])
def test_run_as_non_root_is_checked_as_kubelet_does(context, image_user, problem):
    p = pod(container={"securityContext": context})
    found = non_root_problem(p, p.spec.containers[0], image_user)
    assert (found is None) if problem is None else (problem in found)


def test_the_sandbox_holds_host_ports_aliases_and_namespaces():
    p = pod({"hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}],
             "hostIPC": True},
            {"ports": [{"containerPort": 80, "hostPort": 8080},
                       {"containerPort": 53, "hostPort": 5353, "protocol": "UDP",
                        "hostIP": "127.0.0.1"}]})
    config = sandbox_config(p, 0, "10.96.0.10", "cluster.local")
    assert config.ports == (PortMapping(80, 8080, "TCP", ""),
                            PortMapping(53, 5353, "UDP", "127.0.0.1"))
    assert config.extra_hosts == (("foo.local", "10.1.2.3"), ("bar.local", "10.1.2.3"))
    options = sandbox_options(config)
    assert options["ports"] == {"80/tcp": 8080, "53/udp": ("127.0.0.1", 5353)}
    assert options["extra_hosts"] == ["foo.local:10.1.2.3", "bar.local:10.1.2.3"]
    assert options["ipc_mode"] == "host" and options["hostname"] == "p"
    assert options["dns"] == ["10.96.0.10"]


def test_a_host_network_pod_uses_the_nodes_network_name_and_resolvers():
    p = pod({"hostNetwork": True}, {"ports": [{"containerPort": 9100}]})
    assert p.spec.containers[0].ports[0].host_port == 9100  # Kubernetes' defaulting
    config = sandbox_config(p, 0, "10.96.0.10", "cluster.local")
    assert config.namespaces.network == "node" and config.ports == ()
    options = sandbox_options(config)
    assert options["network_mode"] == "host"
    assert "hostname" not in options and "dns" not in options
    with_cluster_dns = pod({"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"})
    assert sandbox_options(sandbox_config(with_cluster_dns, 0, "10.96.0.10",
                                          "cluster.local"))["dns"] == ["10.96.0.10"]


@pytest.mark.parametrize("spec,pid_mode", [
    ({}, None), ({"shareProcessNamespace": True}, "container:sb"), ({"hostPID": True}, "host")])
def test_process_namespaces(spec, pid_mode):
    p = pod(spec)
    config = container_config(p, p.spec.containers[0], 0, "sb", {}, ())
    assert container_options(config).get("pid_mode") == pid_mode


def test_docker_options_of_a_confined_container():
    p = pod(container={"securityContext": {
        "runAsUser": 1000, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}},
        spec={"securityContext": {"fsGroup": 2000}})
    options = container_options(container_config(p, p.spec.containers[0], 0, "sb", {}, ()))
    assert options["user"] == "1000" and options["group_add"] == ["2000"]
    assert options["read_only"] is True and options["cap_drop"] == ["ALL"]
    assert options["security_opt"] == ["no-new-privileges"]
    plain = container_options(container_config(pod(), pod().spec.containers[0], 0, "sb", {}, ()))
    assert plain["security_opt"] == ["seccomp=unconfined"] and "user" not in plain
    assert plain["ipc_mode"] == plain["network_mode"] == "container:sb"


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "c", "image": "orch/web:1"}]}}


@pytest.mark.parametrize("spec,message", [
    ({"containers": [{"name": "c", "image": "i", "securityContext": {
        "privileged": True, "allowPrivilegeEscalation": False}}]},
     "cannot set allowPrivilegeEscalation to false and privileged to true"),
    ({"containers": [{"name": "c", "image": "i", "securityContext": {
        "allowPrivilegeEscalation": False, "capabilities": {"add": ["CAP_SYS_ADMIN"]}}}]},
     "capabilities.Add CAP_SYS_ADMIN"),
    ({"containers": [{"name": "c", "image": "i", "securityContext": {"runAsUser": -1}}]},
     "runAsUser"),
    ({"initContainers": [{"name": "c", "image": "i"}], "containers": [{"name": "c", "image": "i"}]},
     "duplicate container name 'c'"),
    ({"initContainers": [{"name": "i", "image": "i", "readinessProbe": {"exec": {
        "command": ["true"]}}}], "containers": [{"name": "c", "image": "i"}]},
     "readinessProbe may not be set for init containers"),
    ({"hostNetwork": True, "containers": [{"name": "c", "image": "i", "ports": [
        {"containerPort": 80, "hostPort": 8080}]}]},
     "hostPort 8080 must match containerPort 80 when hostNetwork is true"),
    ({"containers": [{"name": "c", "image": "i", "restartPolicy": "Always"}]},
     "restartPolicy may not be set for non-init containers"),
    ({"initContainers": [{"name": "i", "image": "i", "restartPolicy": "OnFailure"}],
      "containers": [{"name": "c", "image": "i"}]}, "restartPolicy"),
    ({"shareProcessNamespace": True, "hostPID": True, "containers": [{"name": "c", "image": "i"}]},
     "ShareProcessNamespace and HostPID cannot both be enabled"),
    ({"hostAliases": [{"ip": "not-an-ip", "hostnames": ["x"]}],
      "containers": [{"name": "c", "image": "i"}]}, "must be a valid IP address"),
], ids=["privileged-no-escalation", "sys-admin-no-escalation", "negative-uid", "init-name",
        "init-probe", "host-network-port", "app-restart-policy", "init-restart-policy",
        "pid-both", "alias-ip"])
def test_bad_pod_specs_are_refused_naming_the_rule(spec, message):
    with pytest.raises(Invalid) as caught:
        validate_create(by_kind("v1", "Pod"), {**POD, "spec": spec}, "default", "Strict", [])
    assert message in str(caught.value)


def test_a_sidecar_may_be_probed_and_hooked():
    spec = {"initContainers": [{"name": "side", "image": "i", "restartPolicy": "Always",
                                "readinessProbe": {"exec": {"command": ["true"]}},
                                "lifecycle": {"preStop": {"exec": {"command": ["true"]}}}}],
            "containers": [{"name": "c", "image": "i"}]}
    made = validate_create(by_kind("v1", "Pod"), {**POD, "spec": spec}, "default", "Strict", [])
    assert made["spec"]["initContainers"][0]["restartPolicy"] == "Always"


@pytest.mark.parametrize("apps,inits,expected", [
    ([100, 200], [], 300),
    ([100], [(500, False)], 500),  # an init container alone needs more than the app
    ([100], [(50, True)], 150),  # a sidecar runs beside the app
    # the init container after a sidecar runs beside it: 400 + 50
    ([100], [(50, True), (400, False)], 450),
    ([100], [(400, False), (50, True)], 400),  # before it, it runs alone
])
def test_a_pods_requests_count_sidecars_as_kubernetes_does(apps, inits, expected):
    from kube.kinds.pod import effective_request
    assert effective_request(apps, inits, 0) == expected
