"""The job controller's pure decisions (orchestrator/controllers/job.py) and the Job kind's
validation and generated selector (kube/kinds/job.py)."""

from __future__ import annotations

import copy

import pytest

from kube.kinds.job import (COMPLETION_INDEX, CONTROLLER_UID, TRACKING_FINALIZER, Job,
                            _prepare_create, _update_rules, completions_text, job_status_word)
from kube.kinds.pod import Pod
from kube.registry import by_kind
from kube.validation import Invalid, validate_create
from orchestrator.controllers.job import (backoff_delay, complete, failure_verdict,
                                          format_indexes, outcome, parse_indexes, pod_for_index,
                                          wanted_active)

TEMPLATE = {"spec": {"restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "orch/web:1"}]}}


def job(**spec) -> Job:
    return Job.model_validate({"metadata": {"name": "work", "namespace": "ns", "uid": "j-1"},
                               "spec": {"template": copy.deepcopy(TEMPLATE), **spec}})


def pod(phase="Running", deleting=False, index=None, exit_code=None, conditions=()) -> Pod:
    meta = {"name": "work-x", "namespace": "ns", "uid": "p-1"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if index is not None:
        meta["annotations"] = {COMPLETION_INDEX: str(index)}
    status = {"phase": phase, "conditions": list(conditions)}
    if exit_code is not None:
        status["containerStatuses"] = [{"name": "c", "image": "i", "state": {
            "terminated": {"exitCode": exit_code}}}]
    return Pod.model_validate({"metadata": meta, "status": status,
                               "spec": {"containers": [{"name": "c", "image": "i"}]}})


def test_defaults_are_kubernetes_defaults():
    j = job()
    assert (j.spec.completions, j.spec.parallelism, j.spec.backoff_limit) == (1, 1, 6)
    assert j.spec.completion_mode == "NonIndexed" and not j.spec.suspend
    assert j.spec.pod_replacement_policy == "TerminatingOrFailed"
    queue = job(parallelism=3)
    assert queue.spec.completions is None and queue.spec.parallelism == 3


@pytest.mark.parametrize("spec,message", [
    ({"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
     "supported values: \"OnFailure\", \"Never\""),
    ({"completions": -1}, "completions"),
    ({"parallelism": 2, "completionMode": "Indexed"}, "when completion mode is Indexed"),
    ({"activeDeadlineSeconds": 0}, "activeDeadlineSeconds"),
    ({"backoffLimit": -1}, "backoffLimit"),
    ({"selector": {"matchLabels": {"a": "b"}}, "manualSelector": True},
     "selector does not match template labels"),
    ({"podFailurePolicy": {"rules": [{"action": "FailIndex", "onExitCodes": {
        "operator": "In", "values": [1]}}]}}, "FailIndex"),
    ({"podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {
        "operator": "In", "values": [0]}}]}}, "0 is not allowed"),
    ({"suspend": "sometimes"}, "suspend"),
], ids=["always", "negative-completions", "indexed-without-completions", "zero-deadline",
        "negative-backoff", "selector", "fail-index", "in-zero", "suspend-type"])
def test_bad_jobs_are_refused_naming_the_field(spec, message):
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {"template": copy.deepcopy(TEMPLATE), **spec}}
    with pytest.raises(Invalid) as caught:
        validate_create(by_kind("batch/v1", "Job"), body, "ns", "Strict", [])
    assert message in str(caught.value)


def test_the_selector_is_generated_from_the_uid_and_a_chosen_one_refused():
    obj = {"metadata": {"name": "work", "uid": "u-9"},
           "spec": {"template": copy.deepcopy(TEMPLATE)}}
    assert _prepare_create(obj) == []
    assert obj["spec"]["selector"] == {"matchLabels": {CONTROLLER_UID: "u-9"}}
    labels = obj["spec"]["template"]["metadata"]["labels"]
    assert labels == {CONTROLLER_UID: "u-9", "batch.kubernetes.io/job-name": "work",
                      "controller-uid": "u-9", "job-name": "work"}
    chosen = {"metadata": {"name": "work", "uid": "u-9"},
              "spec": {"selector": {"matchLabels": {"app": "x"}},
                       "template": copy.deepcopy(TEMPLATE)}}
    [error] = _prepare_create(chosen)
    assert error.field == "spec.selector" and "not auto-generated" in error.message


def test_the_template_and_completions_are_immutable_parallelism_is_not():
    old = {"spec": {"template": TEMPLATE, "completions": 3, "parallelism": 1}}
    assert _update_rules(old, {"spec": {**old["spec"], "parallelism": 5}}) == []
    [error] = _update_rules(old, {"spec": {**old["spec"], "completions": 4}})
    assert error.field == "spec.completions"


@pytest.mark.parametrize("p,policy,result", [
    (pod("Succeeded"), None, "succeeded"), (pod("Failed"), None, "failed"),
    (pod("Running"), None, None), (pod("Running", deleting=True), None, "failed"),
    (pod("Running", deleting=True), "Failed", None),
])
def test_a_pods_outcome(p, policy, result):
    spec = {"podReplacementPolicy": policy} if policy else {}
    if policy == "Failed":
        spec["podFailurePolicy"] = {"rules": []}
    assert outcome(p, job(**spec)) == result


def test_indexes_round_trip_as_intervals():
    assert format_indexes({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert parse_indexes("0-2,5,7-8") == {0, 1, 2, 5, 7, 8}
    assert parse_indexes(None) == set() and format_indexes([]) == ""


def test_how_many_pods_run():
    assert wanted_active(job(completions=5, parallelism=2), 0, set()) == 2
    assert wanted_active(job(completions=5, parallelism=2), 4, set()) == 1
    assert wanted_active(job(parallelism=3), 0, set()) == 3  # a work queue
    assert wanted_active(job(parallelism=3), 1, set()) == 0  # one succeeded: no new pods
    indexed = job(completions=4, parallelism=4, completionMode="Indexed")
    assert wanted_active(indexed, 0, {0, 2}) == 2


def test_when_a_job_is_complete():
    assert complete(job(completions=2), 2, set(), 0)
    assert not complete(job(completions=2), 1, set(), 1)
    assert complete(job(parallelism=2), 1, set(), 0)
    assert not complete(job(parallelism=2), 1, set(), 1)  # the others still run
    assert complete(job(completions=2, completionMode="Indexed"), 0, {0, 1}, 0)


def test_the_pod_failure_policy_decides_in_rule_order():
    policy = {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In",
                                              "values": [42]}},
        {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1]}}]}
    j = job(podFailurePolicy=policy)
    action, why = failure_verdict(j, pod("Failed", exit_code=42))
    assert action == "FailJob"
    assert why == ("Container c for pod ns/work-x failed with exit code 42 matching FailJob "
                   "rule at index 1")
    assert failure_verdict(j, pod("Failed", exit_code=1))[0] == "Count"  # no rule matches
    disrupted = pod("Failed", exit_code=1, conditions=[{"type": "DisruptionTarget",
                                                         "status": "True"}])
    assert failure_verdict(j, disrupted)[0] == "Ignore"


def test_back_off_doubles_to_its_cap():
    assert [backoff_delay(n, 10) for n in range(5)] == [0, 10, 20, 40, 80]
    assert backoff_delay(20, 10) == 600


def test_a_pod_of_an_indexed_job():
    made = pod_for_index(job(completions=3, completionMode="Indexed"), 2)
    meta = made["metadata"]
    assert meta["generateName"] == "work-2-" and meta["annotations"][COMPLETION_INDEX] == "2"
    assert meta["labels"][COMPLETION_INDEX] == "2" and made["spec"]["hostname"] == "work-2"
    assert meta["finalizers"] == [TRACKING_FINALIZER]
    assert meta["ownerReferences"][0]["kind"] == "Job" and meta["ownerReferences"][0]["controller"]
    # every container reads its index from the annotation (Kubernetes' JOB_COMPLETION_INDEX)
    [container] = made["spec"]["containers"]
    assert {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}} in container["env"]
    # a variable of that name the template sets is left as it is
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["containers"][0]["env"] = [{"name": "JOB_COMPLETION_INDEX", "value": "7"}]
    mine = Job.model_validate({"metadata": {"name": "work", "namespace": "ns", "uid": "j-1"},
                               "spec": {"template": template, "completions": 3,
                                        "completionMode": "Indexed"}})
    env = pod_for_index(mine, 1)["spec"]["containers"][0]["env"]
    assert [e for e in env if e["name"] == "JOB_COMPLETION_INDEX"] == [
        {"name": "JOB_COMPLETION_INDEX", "value": "7"}]


def test_kubectl_columns():
    obj = {"metadata": {}, "spec": {"completions": 3}, "status": {"succeeded": 1}}
    assert completions_text(obj) == "1/3" and job_status_word(obj) == "Running"
    queue = {"metadata": {}, "spec": {"parallelism": 4}, "status": {}}
    assert completions_text(queue) == "0/1 of 4"
    done = {"metadata": {}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    assert job_status_word(done) == "Complete"
