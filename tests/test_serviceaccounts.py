"""Service account tokens (orchestrator/api/tokens.py), the pods' admission
(orchestrator/api/admission.py) and the authorizer's rules for service accounts."""

from __future__ import annotations

import random

import pytest

from orchestrator.api.admission import TOKEN_MOUNT_PATH, admit_pod
from orchestrator.api.auth import RequestAttributes, authorize, service_account_user
from orchestrator.api.status import ApiError
from orchestrator.api.tokens import TokenSigner, TokenVerifier
from orchestrator.pki import ensure_service_account_keys
from orchestrator.store import NotFound


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return ensure_service_account_keys(tmp_path_factory.mktemp("sa"))


def test_a_token_verifies_with_its_claims_and_nothing_else_does(keys, tmp_path):
    signer = TokenSigner(keys["service-account.key"])
    verifier = TokenVerifier(keys["service-account.pub"])
    token, expires = signer.issue("shop", "robot", "sa-uid", [signer.issuer], 3600,
                                  ("web-0", "pod-uid"), now=1000)
    assert expires == 4600
    claims = verifier.verify(token, now=2000)
    assert claims is not None and claims.user_name == "system:serviceaccount:shop:robot"
    assert (claims.pod_name, claims.pod_uid, claims.service_account_uid) == (
        "web-0", "pod-uid", "sa-uid")
    assert verifier.verify(token, now=4600 + 61) is None  # expired (beyond the leeway)
    header, payload, signature = token.split(".")
    assert verifier.verify(f"{header}.{payload}x.{signature}", now=2000) is None  # tampered
    other = TokenSigner(ensure_service_account_keys(tmp_path)["service-account.key"])
    assert verifier.verify(other.issue("shop", "robot", "u", [signer.issuer], 600)[0]) is None
    for_someone_else, _ = signer.issue("shop", "robot", "u", ["https://vault"], 600)
    assert verifier.verify(for_someone_else) is None  # not an audience of ours
    assert verifier.verify("not-a-token") is None


class Store:
    def __init__(self, accounts):
        self.accounts = accounts

    def get(self, resource, namespace, name):
        assert resource == "serviceaccounts"
        if (namespace, name) not in self.accounts:
            raise NotFound(name)
        return self.accounts[(namespace, name)]


def pod(**spec):
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "i"}],
                     "initContainers": [{"name": "i", "image": "i"}], **spec}}


def test_a_pod_gets_its_account_and_the_access_volume():
    store = Store({("ns", "default"): {"metadata": {"name": "default"}}})
    p = pod()
    admit_pod(store, p, random.Random(1))
    assert p["spec"]["serviceAccountName"] == p["spec"]["serviceAccount"] == "default"
    [volume] = p["spec"]["volumes"]
    assert volume["name"].startswith("kube-api-access-")
    sources = volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"] == {"expirationSeconds": 3607, "path": "token"}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    for c in (*p["spec"]["containers"], *p["spec"]["initContainers"]):
        assert c["volumeMounts"] == [{"name": volume["name"], "mountPath": TOKEN_MOUNT_PATH,
                                      "readOnly": True}]


def test_automount_off_on_the_pod_or_the_account_mounts_nothing():
    off = Store({("ns", "default"): {"automountServiceAccountToken": False}})
    p = pod()
    admit_pod(off, p, random.Random(1))
    assert "volumes" not in p["spec"]
    on = Store({("ns", "default"): {}})
    q = pod(automountServiceAccountToken=False)
    admit_pod(on, q, random.Random(1))
    assert "volumes" not in q["spec"]


def test_a_missing_account_is_refused_in_kubernetes_words():
    with pytest.raises(ApiError) as caught:
        admit_pod(Store({}), pod(serviceAccountName="robot"), random.Random(1))
    assert caught.value.code == 403
    assert 'error looking up service account ns/robot: serviceaccount "robot" not found' in \
        caught.value.message


@pytest.mark.parametrize("attrs,allowed", [
    (RequestAttributes("list", "pods", "shop"), True),
    (RequestAttributes("get", "configmaps", "shop", "c"), True),
    (RequestAttributes("list", "secrets", "shop"), False),
    (RequestAttributes("list", "pods", "other"), False),
    (RequestAttributes("list", "nodes"), False),
    (RequestAttributes("create", "pods", "shop"), False),
])
def test_a_service_account_reads_its_own_namespace_but_secrets(attrs, allowed):
    assert authorize(service_account_user("shop", "robot"), attrs)[0] is allowed
