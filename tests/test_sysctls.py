"""Pod sysctls: the API's rules, the node's allowlist (kubelet's), and where they are set."""

from __future__ import annotations

import pytest

from kube.kinds.pod import Pod, sysctl_namespace
from kube.registry import by_kind
from node_agent.pods.containers import sandbox_config
from node_agent.pods.sysctls import allowed, forbidden
from node_agent.runtime.docker import sandbox_options
from kube.validation import Invalid, validate_create


def _pod(sysctls, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"securityContext": {"sysctls": sysctls},
                     "containers": [{"name": "c", "image": "i"}], **spec}}


@pytest.mark.parametrize("name,namespace", [
    ("kernel.shm_rmid_forced", "ipc"), ("kernel.msgmax", "ipc"), ("kernel.sem", "ipc"),
    ("fs.mqueue.msg_max", "ipc"), ("net.core.somaxconn", "net"), ("vm.swappiness", None),
    ("kernel.panic", None)])
def test_sysctls_are_held_by_kubernetes_namespaced_groups(name, namespace):
    assert sysctl_namespace(name) == namespace


def test_the_node_allows_the_safe_set_and_what_it_was_told():
    assert allowed("net.ipv4.ip_local_port_range", ())
    assert not allowed("net.core.somaxconn", ())
    assert allowed("net.core.somaxconn", ("net.core.*",))
    assert allowed("kernel.msgmax", ("kernel.msgmax",))
    assert not allowed("vm.swappiness", ("vm.*",))  # not namespaced: never
    assert forbidden(["net.ipv4.tcp_syncookies", "net.core.somaxconn"], ()) == \
        'forbidden sysctl: "net.core.somaxconn" not allowlisted'
    assert forbidden(["net.ipv4.tcp_syncookies"], ()) is None


@pytest.mark.parametrize("sysctls,spec,message", [
    ([{"name": "Net.Bad", "value": "1"}], {}, "name"),
    ([{"name": "kernel.shm_rmid_forced", "value": "1"},
      {"name": "kernel.shm_rmid_forced", "value": "0"}], {}, "duplicate sysctl"),
    ([{"name": "net.core.somaxconn", "value": "1024"}], {"hostNetwork": True},
     "may not be specified when 'hostNetwork' is true"),
    ([{"name": "kernel.msgmax", "value": "1024"}], {"hostIPC": True},
     "may not be specified when 'hostIPC' is true"),
])
def test_bad_sysctls_are_refused_naming_the_rule(sysctls, spec, message):
    with pytest.raises(Invalid) as caught:
        validate_create(by_kind("v1", "Pod"), _pod(sysctls, **spec), "default", "Strict", [])
    assert message in str(caught.value)


def test_the_sandbox_carries_the_pods_sysctls():
    pod = Pod.model_validate(_pod([{"name": "net.ipv4.ip_local_port_range",
                                    "value": "20000 30000"}]) | {"metadata": {
                                        "name": "p", "namespace": "default", "uid": "u"}})
    config = sandbox_config(pod, 0, None, "cluster.local")
    assert sandbox_options(config)["sysctls"] == {"net.ipv4.ip_local_port_range": "20000 30000"}
