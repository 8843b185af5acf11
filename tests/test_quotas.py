"""Quota usage and admission, LimitRange defaults and bounds (orchestrator/api/quota.py and
limits.py): pure, on JSON."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kube.quantity import format_quantity, parse_quantity
from kube.registry import by_kind
from orchestrator.api import limits, quota
from orchestrator.controllers.resourcequota import counted_kinds, recount

POD, SVC, PVC = by_kind("v1", "Pod"), by_kind("v1", "Service"), by_kind("v1",
                                                                       "PersistentVolumeClaim")


def pod(*containers: dict, init: tuple[dict, ...] = (), phase: str | None = None) -> dict:
    body = {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": f"c{i}", "image": "i", **c}
                                    for i, c in enumerate(containers)],
                     "initContainers": [{"name": f"i{i}", "image": "i", **c}
                                        for i, c in enumerate(init)]}}
    if phase:
        body["status"] = {"phase": phase}
    return body


def res(**values) -> dict:
    return {"resources": {k: v for k, v in values.items()}}


def test_a_pod_uses_its_containers_sum_or_its_largest_init_container():
    used = quota.usage(POD, pod(res(requests={"cpu": "200m"}), res(requests={"cpu": "300m"}),
                                init=(res(requests={"cpu": "1"}),)))
    assert used["pods"] == 1 and used["requests.cpu"] == Decimal("1")
    assert used["cpu"] == used["requests.cpu"] and used["count/pods"] == 1
    assert quota.usage(POD, pod(phase="Succeeded")) == {}


def test_services_count_their_node_ports_and_claims_their_storage_per_class():
    svc = {"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{}, {}]}}
    assert quota.usage(SVC, svc)["services.nodeports"] == 2
    claim = {"metadata": {"name": "c"}, "spec": {"storageClassName": "fast", "resources": {
        "requests": {"storage": "2Gi"}}}}
    used = quota.usage(PVC, claim)
    assert used["requests.storage"] == parse_quantity("2Gi")
    assert used["fast.storageclass.storage.k8s.io/persistentvolumeclaims"] == 1


def test_what_a_quota_caps_decides_what_it_counts():
    assert quota.counts(POD, "requests.memory") and not quota.counts(SVC, "requests.memory")
    assert quota.counts(by_kind("apps/v1", "Deployment"), "count/deployments.apps")
    assert not quota.counts(by_kind("apps/v1", "Deployment"), "count/deployments")
    assert [rt.kind for rt in counted_kinds({"pods": "1", "services.nodeports": "2"})] == \
        ["Pod", "Service"]


def test_over_and_unspecified_name_what_breaks_the_quota():
    hard = {"pods": "2", "requests.cpu": "1"}
    assert quota.over(hard, {"pods": "2", "requests.cpu": "0"},
                      {"pods": Decimal(1), "requests.cpu": Decimal("0.5")}) == ["pods"]
    assert quota.unspecified(hard, pod({})) == ["requests.cpu for: c0"]


def test_the_recount_sums_the_objects_in_the_quotas_units():
    used = recount({"requests.memory": "1Gi", "pods": "5"},
                   {POD: [pod(res(requests={"memory": "256Mi"})),
                          pod(res(requests={"memory": "256Mi"}))]})
    assert used == {"requests.memory": "512Mi", "pods": "2"}
    assert format_quantity(Decimal("0.25")) == "250m"


ITEM = {"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"},
        "max": {"cpu": "1", "memory": "1Gi"}, "min": {"cpu": "50m"}}


def test_defaults_fill_only_what_a_container_leaves_out():
    body = pod({}, res(limits={"cpu": "800m"}))
    limits.apply_defaults([ITEM], body)
    first, second = (c["resources"] for c in body["spec"]["containers"])
    assert first == {"limits": {"cpu": "500m", "memory": "1Gi"},
                     "requests": {"cpu": "100m", "memory": "1Gi"}}
    # its own limit stands, and its request follows it (Kubernetes: request = limit)
    assert second["limits"]["cpu"] == "800m" and second["requests"]["cpu"] == "800m"
    assert limits.pod_problems([ITEM], body) == []


@pytest.mark.parametrize("resources, problem", [
    (res(limits={"cpu": "2"}, requests={"cpu": "1"}),
     "maximum cpu usage per Container is 1, but limit is 2"),
    (res(limits={"cpu": "1"}, requests={"cpu": "10m"}),
     "minimum cpu usage per Container is 50m, but request is 0.01"),
])
def test_bounds_are_checked_after_the_defaults(resources, problem):
    body = pod(resources)
    limits.apply_defaults([ITEM], body)
    assert problem in limits.pod_problems([ITEM], body)


def test_the_limit_to_request_ratio_and_pod_totals():
    ratio = {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}
    assert limits.pod_problems([ratio], pod(res(limits={"cpu": "1"}, requests={"cpu": "250m"}))
                               ) == ["cpu max limit to request ratio per Container is 2, but "
                                     "provided ratio is 4"]
    per_pod = {"type": "Pod", "max": {"memory": "1Gi"}}
    assert limits.pod_problems([per_pod], pod(res(limits={"memory": "768Mi"}),
                                              res(limits={"memory": "768Mi"}))) == [
        "maximum memory usage per Pod is 1Gi, but limit is 1610612736"]


def test_only_what_may_lower_use_wakes_a_recount():
    from orchestrator.controllers.resourcequota import replenishes
    from orchestrator.store.watchcache import WatchEvent

    def event(kind, phase=None):
        obj = {"kind": "Pod", "metadata": {"namespace": "n", "name": "p"},
               "spec": {"containers": []}, "status": {"phase": phase} if phase else {}}
        return WatchEvent(kind, "/registry/pods/n/p", obj, 7)
    assert replenishes(event("DELETED"))
    assert replenishes(event("MODIFIED", "Succeeded")) and replenishes(event("MODIFIED", "Failed"))
    # a creation was charged by admission; a binding or a status change lowers nothing, and a
    # recount then could undo the charge of a create still in flight
    assert not replenishes(event("ADDED"))
    assert not replenishes(event("MODIFIED", "Running"))
    service = WatchEvent("MODIFIED", "/registry/services/n/s",
                         {"kind": "Service", "metadata": {}, "spec": {"type": "ClusterIP"}}, 8)
    assert replenishes(service)  # it may have stopped being a NodePort


def test_a_quotas_own_status_write_wakes_no_recount_but_a_spec_change_does():
    from orchestrator.controllers.resourcequota import quota_needs_recount
    from orchestrator.store.watchcache import WatchEvent

    def event(kind, hard, status_hard):
        obj = {"kind": "ResourceQuota", "metadata": {"namespace": "n", "name": "q"},
               "spec": {"hard": hard}, "status": {"hard": status_hard, "used": {"pods": "1"}}}
        return WatchEvent(kind, "/registry/resourcequotas/n/q", obj, 9)
    assert quota_needs_recount(event("ADDED", {"pods": "2"}, None))
    assert quota_needs_recount(event("MODIFIED", {"pods": "3"}, {"pods": "2"}))  # spec changed
    # admission's charge (status.used) between it and the store of what it charged for: a
    # recount then would miss that object and hand its charge back
    assert not quota_needs_recount(event("MODIFIED", {"pods": "2"}, {"pods": "2"}))
