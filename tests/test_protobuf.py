"""Kubernetes' protobuf bodies read as JSON (kube/protobuf.py). The .bin files are what kubectl
1.37.1 sent for the commands named in each case (captured from `kubectl -v=9`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kube import protobuf
from kube.protobuf import ProtobufError, decode

DATA = Path(__file__).parent / "data" / "protobuf"


@pytest.mark.parametrize("name, expected", [
    # kubectl create configmap cfg --from-literal=a=b --from-literal=empty= -n t1
    ("configmap", {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cfg", "namespace": "t1"},
                   "data": {"a": "b", "empty": ""}}),
    # kubectl create secret generic creds --from-literal=password=hunter2 --type=Opaque
    ("secret", {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "creds", "namespace": "t1"},
                "data": {"password": "aHVudGVyMg=="}, "type": "Opaque"}),
    # kubectl create namespace team-a
    ("namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
    # kubectl create deployment web --image=orch/web:1 --replicas=0 --port=80: the pointer's
    # zero (replicas) is kept, the non-pointer zeros Go always writes are not
    ("deployment", {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "t1", "labels": {"app": "web"}},
                    "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                             "template": {"metadata": {"labels": {"app": "web"}},
                                          "spec": {"containers": [
                                              {"name": "web", "image": "orch/web:1",
                                               "ports": [{"containerPort": 80}]}]}}}}),
    # kubectl create service nodeport np --tcp=80:8080: targetPort an IntOrString
    ("service", {"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": "np", "namespace": "t1", "labels": {"app": "np"}},
                 "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80,
                                     "targetPort": 8080}],
                          "selector": {"app": "np"}, "type": "NodePort"}}),
])
def test_kubectls_bodies_read_as_the_json_it_would_send(name, expected):
    assert decode((DATA / f"{name}.bin").read_bytes()) == expected


# a minimal encoder, for the cases kubectl's commands do not reach

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes((byte | (0x80 if n else 0),))
        if not n:
            return out


def field(number: int, value: bytes | int | str) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return protobuf.MAGIC + field(1, field(1, api_version) + field(2, kind)) + field(2, raw)


def test_times_int_or_strings_negative_numbers_and_quantities():
    # Pod: metadata(1){name(1), creationTimestamp(8){seconds(1)}, deletionGracePeriodSeconds(10)}
    metadata = field(1, "p") + field(8, field(1, 1_700_000_000)) + field(10, -1)
    # spec(2){containers(2)[{name(1), resources(8){limits(1) map{cpu: Quantity{string(1)}}},
    #   readinessProbe(11){handler(1, inline){httpGet(2){port(2) IntOrString{type 1,
    #   strVal(3)}}}}, env(7)[{name(1), valueFrom(3){configMapKeyRef(3){
    #   localObjectReference(1, inline){name(1)}, key(2)}}}]}]}
    probe = field(1, field(2, field(2, field(1, 1) + field(3, "http"))))
    env = field(1, "E") + field(3, field(3, field(1, field(1, "cfg")) + field(2, "k")))
    container = (field(1, "c") + field(8, field(1, field(1, "cpu") + field(2, field(1, "250m"))))
                 + field(11, probe) + field(7, env))
    spec = field(2, container)
    obj = decode(envelope("v1", "Pod", field(1, metadata) + field(2, spec)))
    assert obj["metadata"] == {"name": "p", "creationTimestamp": "2023-11-14T22:13:20Z",
                               "deletionGracePeriodSeconds": -1}
    [c] = obj["spec"]["containers"]
    assert c["resources"] == {"limits": {"cpu": "250m"}}
    assert c["readinessProbe"] == {"httpGet": {"port": "http"}}
    assert c["env"] == [{"name": "E", "valueFrom": {"configMapKeyRef": {"name": "cfg",
                                                                          "key": "k"}}}]


@pytest.mark.parametrize("body, why", [
    (b"{}", "magic"),
    (protobuf.MAGIC + b"\x0a\x05\x0a\x02v1", "cut short"),
    (envelope("v1", "Widget", b""), "v1/Widget"),
    (envelope("v1", "ConfigMap", field(1, field(1, b"\xff\xfe"))), "metadata.name: not UTF-8"),
    (envelope("v1", "ConfigMap", field(1, field(7, "seven"))), "metadata.generation: wrong wire"),
    (envelope("v1", "ConfigMap", b"\x0b"), "wire type 3"),
])
def test_bodies_that_cannot_be_read_say_where(body, why):
    with pytest.raises(ProtobufError, match=why):
        decode(body)


def test_fields_newer_than_the_schema_are_skipped():
    obj = decode(envelope("v1", "ConfigMap", field(1, field(1, "c")) + field(99, "future")))
    assert obj == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
