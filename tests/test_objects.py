"""API verbs over the real store: server-owned fields, status separation, allocations under
concurrency, graceful pod deletion, namespace deletion, binding, scale."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest

from orchestrator.api import allocation
from orchestrator.api.objects import Objects
from kube.registry import by_kind
from orchestrator.api.status import ApiError
from kube.validation import Invalid
from orchestrator.store import Etcd, Store

POD, SVC, NS, NODE = (by_kind("v1", k) for k in ("Pod", "Service", "Namespace", "Node"))
DEPLOY = by_kind("apps/v1", "Deployment")


def pod(name, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "orch/web:1"}], **spec}}


def service(name, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


def deployment(name, replicas=1):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "orch/web:1"}]}}}}


def test_create_sets_the_server_owned_fields_and_ignores_client_status(objects, ns):
    created = objects.create(POD, ns, {**pod("p"), "status": {"phase": "Running"},
                                       "metadata": {"name": "p", "uid": "mine"}})
    meta = created["metadata"]
    assert meta["uid"] != "mine" and len(meta["uid"]) == 36
    assert meta["creationTimestamp"].endswith("Z") and meta["generation"] == 1
    assert created["status"] == {"phase": "Pending"}
    assert objects.get(POD, ns, "p") == created


def test_an_invalid_create_stores_nothing(objects, ns):
    with pytest.raises(Invalid):
        objects.create(POD, ns, pod("p", restartPolicy="Sometimes"))
    with pytest.raises(ApiError) as e:
        objects.get(POD, ns, "p")
    assert e.value.code == 404


def test_creating_in_a_missing_namespace_is_not_found(objects):
    with pytest.raises(ApiError) as e:
        objects.create(POD, "nowhere", pod("p"))
    assert e.value.code == 404 and "namespaces" in e.value.message


def test_generate_name_makes_unique_names(objects, ns):
    names = {objects.create(POD, ns, {**pod(""), "metadata": {"generateName": "web-"}})
             ["metadata"]["name"] for _ in range(5)}
    assert len(names) == 5 and all(n.startswith("web-") and len(n) == 9 for n in names)


def test_a_spec_update_bumps_generation_and_keeps_status(objects, ns):
    d = objects.create(DEPLOY, ns, deployment("web"))
    objects.update(DEPLOY, ns, "web", {**d, "status": {"replicas": 7}}, subresource="status")
    d = objects.get(DEPLOY, ns, "web")
    d["spec"]["replicas"] = 3
    d["status"] = {"replicas": 99}  # ignored: status is written through /status only
    updated = objects.update(DEPLOY, ns, "web", d)
    assert updated["metadata"]["generation"] == 2
    assert updated["status"] == {"replicas": 7}


def test_a_status_update_keeps_the_spec(objects, ns):
    d = objects.create(DEPLOY, ns, deployment("web", replicas=2))
    d["spec"]["replicas"] = 5
    d["status"] = {"replicas": 2}
    out = objects.update(DEPLOY, ns, "web", d, subresource="status")
    assert out["spec"]["replicas"] == 2 and out["status"] == {"replicas": 2}
    assert out["metadata"]["generation"] == 1


def test_an_update_at_a_stale_version_is_a_conflict(objects, ns):
    stale = objects.create(DEPLOY, ns, deployment("web"))
    objects.patch(DEPLOY, ns, "web", {"spec": {"replicas": 2}})
    with pytest.raises(ApiError) as e:
        objects.update(DEPLOY, ns, "web", {**stale, "spec": {**stale["spec"], "replicas": 3}})
    assert e.value.code == 409 and e.value.reason == "Conflict"


def test_a_merge_patch_changes_only_what_it_names(objects, ns):
    objects.create(DEPLOY, ns, deployment("web"))
    out = objects.patch(DEPLOY, ns, "web", {"metadata": {"labels": {"tier": "front"}},
                                            "spec": {"replicas": 4}})
    assert out["spec"]["replicas"] == 4 and out["metadata"]["labels"] == {"tier": "front"}
    assert out["spec"]["template"]["spec"]["containers"][0]["image"] == "orch/web:1"


def test_services_get_a_cluster_ip_in_range_and_node_ports_when_asked(objects, ns):
    svc = objects.create(SVC, ns, service("web", type="NodePort"))
    ip = svc["spec"]["clusterIP"]
    assert svc["spec"]["clusterIPs"] == [ip]
    import ipaddress
    assert ipaddress.ip_address(ip) in allocation.SERVICE_CIDR
    assert svc["spec"]["ports"][0]["nodePort"] in allocation.NODE_PORT_RANGE
    # kubectl-apply style update without clusterIP/nodePort keeps them
    again = objects.update(SVC, ns, "web", service("web", type="NodePort"))
    assert again["spec"]["clusterIP"] == ip
    assert again["spec"]["ports"][0]["nodePort"] == svc["spec"]["ports"][0]["nodePort"]


def test_fifty_parallel_service_creates_get_fifty_distinct_ips_and_ports(objects, ns):
    def create(i):
        return objects.create(SVC, ns, service(f"s{i}", type="NodePort"))

    with ThreadPoolExecutor(16) as pool:
        services = list(pool.map(create, range(50)))
    ips = {s["spec"]["clusterIP"] for s in services}
    ports = {s["spec"]["ports"][0]["nodePort"] for s in services}
    assert len(ips) == 50 and len(ports) == 50


def test_a_requested_ip_or_port_that_is_taken_or_out_of_range_is_invalid(objects, ns):
    first = objects.create(SVC, ns, service("a", type="NodePort"))
    with pytest.raises(Invalid, match="spec.clusterIP: Invalid value: provided IP is already "
                                      "allocated"):
        objects.create(SVC, ns, service("b", clusterIP=first["spec"]["clusterIP"]))
    port = first["spec"]["ports"][0]["nodePort"]
    with pytest.raises(Invalid, match=r"spec.ports\[0\].nodePort: .*already allocated"):
        objects.create(SVC, ns, service("c", type="NodePort",
                                        ports=[{"port": 80, "nodePort": port}]))
    with pytest.raises(Invalid, match="not in the valid range 10.96.0.0/12"):
        objects.create(SVC, ns, service("d", clusterIP="192.168.1.1"))
    with pytest.raises(Invalid, match="not in the valid range 30000-32767"):
        objects.create(SVC, ns, service("e", type="NodePort", ports=[{"port": 80, "nodePort": 80}]))
    with pytest.raises(ApiError):
        objects.get(SVC, ns, "b")


def test_deleting_a_service_frees_its_addresses(objects, ns):
    svc = objects.create(SVC, ns, service("a", type="NodePort"))
    objects.delete(SVC, ns, "a")
    again = objects.create(SVC, ns, service("b", type="NodePort", clusterIP=svc["spec"]["clusterIP"],
                                            ports=[{"port": 80,
                                                    "nodePort": svc["spec"]["ports"][0]["nodePort"]}]))
    assert again["spec"]["clusterIP"] == svc["spec"]["clusterIP"]


def test_nodes_get_distinct_pod_cidrs_and_a_requested_one_is_recorded(objects):
    name = f"n{secrets.token_hex(3)}"
    a = objects.create(NODE, None, {"metadata": {"name": f"{name}a"}})
    b = objects.create(NODE, None, {"metadata": {"name": f"{name}b"}})
    assert a["spec"]["podCIDR"] != b["spec"]["podCIDR"]
    with pytest.raises(Invalid, match="already allocated"):
        objects.create(NODE, None, {"metadata": {"name": f"{name}c"},
                                    "spec": {"podCIDR": a["spec"]["podCIDR"]}})
    for n in ("a", "b"):
        objects.delete(NODE, None, f"{name}{n}")


def test_a_bound_pod_is_deleted_gracefully_an_unbound_one_at_once(objects, ns):
    objects.create(POD, ns, pod("unbound"))
    objects.delete(POD, ns, "unbound")
    with pytest.raises(ApiError):
        objects.get(POD, ns, "unbound")
    objects.create(POD, ns, pod("bound"))
    objects.bind(ns, "bound", {"target": {"kind": "Node", "name": "host1"}})
    marked = objects.delete(POD, ns, "bound")
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert objects.get(POD, ns, "bound")["metadata"]["deletionTimestamp"]
    objects.delete(POD, ns, "bound", grace_period_seconds=0)
    with pytest.raises(ApiError):
        objects.get(POD, ns, "bound")


def test_binding_sets_the_node_once(objects, ns):
    objects.create(POD, ns, pod("p"))
    bound = objects.bind(ns, "p", {"target": {"name": "host2"}})
    assert bound["spec"]["nodeName"] == "host2"
    with pytest.raises(ApiError) as e:
        objects.bind(ns, "p", {"target": {"name": "host3"}})
    assert e.value.code == 409


def test_scale_reads_and_writes_replicas(objects, ns):
    objects.create(DEPLOY, ns, deployment("web", replicas=2))
    assert objects.get_scale(DEPLOY, ns, "web")["spec"]["replicas"] == 2
    objects.update_scale(DEPLOY, ns, "web", {"spec": {"replicas": 5}})
    assert objects.get(DEPLOY, ns, "web")["spec"]["replicas"] == 5
    with pytest.raises(Invalid):
        objects.update_scale(DEPLOY, ns, "web", {"spec": {"replicas": -1}})


def test_a_scale_patch_is_reapplied_over_a_concurrent_write_unless_it_pins_a_version(objects, ns):
    objects.create(DEPLOY, ns, deployment("web", replicas=2))
    raced = []

    def patch_racing_a_status_write(scale):
        if not raced:  # a controller writes status between the read and the write
            raced.append(objects.patch(DEPLOY, ns, "web", {"status": {"replicas": 2}}, "status"))
        return {**scale, "spec": {"replicas": 4}}

    scale = objects.patch_scale(DEPLOY, ns, "web", patch_racing_a_status_write)
    assert scale["spec"]["replicas"] == 4 == objects.get(DEPLOY, ns, "web")["spec"]["replicas"]
    stale = raced[0]["metadata"]["resourceVersion"]
    objects.patch(DEPLOY, ns, "web", {"metadata": {"labels": {"moved": "on"}}})
    with pytest.raises(ApiError) as e:  # a resourceVersion the patch sets is a precondition
        objects.patch_scale(DEPLOY, ns, "web", lambda s: {
            **s, "metadata": {**s["metadata"], "resourceVersion": stale},
            "spec": {"replicas": 9}})
    assert e.value.code == 409 and objects.get(DEPLOY, ns, "web")["spec"]["replicas"] == 4


def test_deleting_a_namespace_deletes_what_is_in_it(objects, ns):
    objects.create(POD, ns, pod("p"))
    objects.create(SVC, ns, service("s"))
    objects.delete(NS, None, ns)
    with pytest.raises(ApiError) as e:
        objects.get(NS, None, ns)
    assert e.value.code == 404
    assert objects.list(POD, ns)[0] == [] and objects.list(SVC, ns)[0] == []


def test_list_filters_by_label_and_field_selectors(objects, ns):
    objects.create(POD, ns, {**pod("a"), "metadata": {"name": "a", "labels": {"app": "web"}}})
    objects.create(POD, ns, {**pod("b"), "metadata": {"name": "b", "labels": {"app": "db"}}})
    objects.bind(ns, "b", {"target": {"name": "host1"}})
    assert [p["metadata"]["name"] for p in objects.list(POD, ns, "app=web")[0]] == ["a"]
    assert [p["metadata"]["name"] for p in objects.list(POD, ns, None, "spec.nodeName=host1")[0]] == ["b"]
    assert [p["metadata"]["name"] for p in objects.list(POD, ns, "app in (web,db)", "metadata.name!=a")[0]] == ["b"]


def test_two_masters_creating_at_once_never_share_an_address(etcd_server, objects, ns):
    """Two Objects over two separate etcd clients stand for two master processes."""
    other_store = Store(Etcd([etcd_server.url]))
    other = Objects(other_store)
    try:
        def create(i):
            master = objects if i % 2 else other
            return master.create(SVC, ns, service(f"m{i}", type="NodePort"))

        with ThreadPoolExecutor(16) as pool:
            services = list(pool.map(create, range(40)))
    finally:
        other_store.close()
        other_store.etcd.close()
    assert len({s["spec"]["clusterIP"] for s in services}) == 40
    assert len({s["spec"]["ports"][0]["nodePort"] for s in services}) == 40


RS = by_kind("apps/v1", "ReplicaSet")


def replicaset(name):
    return {"metadata": {"name": name}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": "orch/web:1"}]}}}}


def test_an_object_with_finalizers_is_only_marked_and_goes_with_its_last_finalizer(objects, ns):
    rs = objects.create(RS, ns, {**replicaset("held"),
                                 "metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    marked = objects.delete(RS, ns, "held")
    assert marked["metadata"]["deletionTimestamp"]
    assert objects.get(RS, ns, "held")["metadata"]["uid"] == rs["metadata"]["uid"]
    current = objects.get(RS, ns, "held")
    current["metadata"]["finalizers"] = []
    objects.update(RS, ns, "held", current)
    with pytest.raises(ApiError) as gone:
        objects.get(RS, ns, "held")
    assert gone.value.code == 404


@pytest.mark.parametrize("policy,finalizer", [("Orphan", "orphan"),
                                              ("Foreground", "foregroundDeletion")])
def test_propagation_policies_add_their_finalizer(objects, ns, policy, finalizer):
    objects.create(RS, ns, replicaset("owner"))
    marked = objects.delete(RS, ns, "owner", propagation_policy=policy)
    assert marked["metadata"]["finalizers"] == [finalizer]
    assert marked["metadata"]["deletionTimestamp"]


def test_an_unknown_propagation_policy_is_refused(objects, ns):
    objects.create(RS, ns, replicaset("owner"))
    with pytest.raises(ApiError) as e:
        objects.delete(RS, ns, "owner", propagation_policy="Sideways")
    assert e.value.code == 400 and "propagationPolicy" in e.value.message


def test_many_nodes_each_get_their_own_pod_cidr(objects):
    tag = secrets.token_hex(3)
    cidrs = [objects.create(NODE, None, {"metadata": {"name": f"n{tag}-{i}"}})["spec"]["podCIDR"]
             for i in range(40)]  # more than one transaction's worth of retries
    assert len(set(cidrs)) == 40
    assert not any(c.startswith("10.244.0.") for c in cidrs)
