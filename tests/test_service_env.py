"""Service env vars (kubelet's service links) and the pods' DNS settings."""

from __future__ import annotations

from kube.kinds.pod import Pod
from kube.kinds.service import Service
from node_agent.pods.containers import sandbox_config
from node_agent.pods.envvars import service_env


def svc(name, ip, *ports):
    return Service.model_validate({"metadata": {"namespace": "default", "name": name},
                                   "spec": {"clusterIP": ip, "ports": list(ports)}})


def test_docker_link_style_variables_for_each_port():
    env = service_env([svc("web-api", "10.96.0.20", {"name": "http", "port": 80},
                           {"name": "dns", "port": 53, "protocol": "UDP"})])
    assert env == {
        "WEB_API_SERVICE_HOST": "10.96.0.20", "WEB_API_SERVICE_PORT": "80",
        "WEB_API_SERVICE_PORT_HTTP": "80", "WEB_API_SERVICE_PORT_DNS": "53",
        "WEB_API_PORT": "tcp://10.96.0.20:80",
        "WEB_API_PORT_80_TCP": "tcp://10.96.0.20:80", "WEB_API_PORT_80_TCP_PROTO": "tcp",
        "WEB_API_PORT_80_TCP_PORT": "80", "WEB_API_PORT_80_TCP_ADDR": "10.96.0.20",
        "WEB_API_PORT_53_UDP": "udp://10.96.0.20:53", "WEB_API_PORT_53_UDP_PROTO": "udp",
        "WEB_API_PORT_53_UDP_PORT": "53", "WEB_API_PORT_53_UDP_ADDR": "10.96.0.20"}


def test_headless_and_unallocated_services_give_nothing():
    assert service_env([svc("h", "None", {"port": 80}), svc("n", None, {"port": 80})]) == {}


def dns_of(pod_spec, cluster_dns="10.244.1.1"):
    pod = Pod.model_validate({"metadata": {"namespace": "shop", "name": "p", "uid": "u-1"},
                              "spec": {"containers": [{"name": "c", "image": "i"}], **pod_spec}})
    config = sandbox_config(pod, 0, cluster_dns, "cluster.local")
    return config.dns_servers, config.dns_searches, config.dns_options


def test_cluster_first_pods_use_the_agents_dns_and_the_search_path():
    assert dns_of({}) == (("10.244.1.1",),
                          ("shop.svc.cluster.local", "svc.cluster.local", "cluster.local"),
                          ("ndots:5",))


def test_default_policy_or_no_cluster_dns_keeps_the_hosts_resolvers():
    assert dns_of({"dnsPolicy": "Default"}) == ((), (), ())
    assert dns_of({}, cluster_dns=None) == ((), (), ())
