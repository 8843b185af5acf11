"""Admission: what the API server adds to an object on create, as Kubernetes' admission
plugins do, after validation and before it is stored.

ServiceAccount (pods): a pod runs as `serviceAccountName` (`default` unless named; the
deprecated `serviceAccount` is kept equal), which must exist (403 otherwise, in Kubernetes'
words); a pod that names no imagePullSecrets gets its account's. Unless
automountServiceAccountToken is false (on the pod, else on its service account), every
container and init container gets the projected volume `kube-api-access-…` at
/var/run/secrets/kubernetes.io/serviceaccount: a token bound to the pod (3607 s, renewed by
the agent), the cluster's CA (the `kube-root-ca.crt` ConfigMap) and the namespace.

DefaultStorageClass (claims): a claim that names no class (`storageClassName` absent, not "")
gets the default StorageClass, the newest where several are marked, as Kubernetes picks.

LimitRanger (pods, claims): the namespace's LimitRanges fill in default requests and limits
and bound them (orchestrator/api/limits.py); a breach is 403.

StorageObjectInUseProtection (claims, volumes): every claim gets the
`kubernetes.io/pvc-protection` finalizer and every volume `kubernetes.io/pv-protection`, which
the persistent volume controller removes once no pod uses the claim (no claim is bound to the
volume), so storage in use is never removed from under a pod.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from kube.kinds import ingressclass, persistentvolume, persistentvolumeclaim, storageclass
from kube.objects import Object
from orchestrator.api import limits
from orchestrator.api.status import ApiError
from orchestrator.store import NotFound

if TYPE_CHECKING:
    from orchestrator.store import Store

TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
TOKEN_EXPIRATION = 3607  # kubelet's: an hour, and a little, so clients refresh before
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def root_ca_configmap(namespace: str, ca_pem: str) -> Object:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": namespace,
                         "annotations": {"kubernetes.io/description": (
                             "Contains a CA bundle that can be used to verify the "
                             "kube-apiserver when using internal endpoints such as the internal "
                             "service IP or kubernetes.default.svc. No other usage is "
                             "guaranteed across distributions of Kubernetes clusters.")}},
            "data": {"ca.crt": ca_pem}}


def access_volume(name: str) -> Object:
    return {"name": name, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt",
                                                              "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}


def admit(store: Store, kind: str, obj: Object, rng: random.Random) -> None:
    """Every admission plugin that concerns `kind`, on a validated object being created."""
    if kind == "Pod":
        limit_pod(store, obj)
        admit_pod(store, obj, rng)
    elif kind == "PersistentVolumeClaim":
        limit_claim(store, obj)
        admit_claim(store, obj)
    elif kind == "PersistentVolume":
        _add_finalizer(obj, persistentvolume.PROTECTION_FINALIZER)
    elif kind == "Ingress":
        admit_ingress(store, obj)


def _limit_items(store: Store, namespace: str) -> list[Object]:
    ranges, _ = store.list("limitranges", namespace)
    return [item for r in ranges for item in (r.get("spec") or {}).get("limits") or ()]


def _refuse(resource: str, obj: Object, problems: list[str]) -> None:
    if problems:
        name = obj["metadata"].get("name") or obj["metadata"].get("generateName") or ""
        text = problems[0] if len(problems) == 1 else f"[{', '.join(problems)}]"
        raise ApiError(403, "Forbidden", f'{resource} "{name}" is forbidden: {text}',
                       {"name": name, "kind": resource})


def limit_pod(store: Store, pod: Object) -> None:
    items = _limit_items(store, pod["metadata"]["namespace"])
    if items:
        limits.apply_defaults(items, pod)
        _refuse("pods", pod, limits.pod_problems(items, pod))


def limit_claim(store: Store, claim: Object) -> None:
    items = _limit_items(store, claim["metadata"]["namespace"])
    _refuse("persistentvolumeclaims", claim, limits.claim_problems(items, claim))


def _add_finalizer(obj: Object, finalizer: str) -> None:
    finalizers = obj["metadata"].setdefault("finalizers", [])
    if finalizer not in finalizers:
        finalizers.append(finalizer)


def default_storage_class(store: Store) -> str | None:
    """The default StorageClass's name: the newest of those marked (then by name)."""
    classes, _ = store.list("storageclasses", None)
    marked = sorted((c for c in classes if storageclass.is_default(c)),
                    key=lambda c: (c["metadata"].get("creationTimestamp") or "",
                                   c["metadata"]["name"]))
    return marked[-1]["metadata"]["name"] if marked else None


def default_ingress_class(store: Store) -> str | None:
    """The default IngressClass's name: the newest of those marked (then by name)."""
    classes, _ = store.list("ingressclasses", None)
    marked = sorted((c for c in classes if ingressclass.is_default(c)),
                    key=lambda c: (c["metadata"].get("creationTimestamp") or "",
                                   c["metadata"]["name"]))
    return marked[-1]["metadata"]["name"] if marked else None


def admit_ingress(store: Store, ingress: Object) -> None:
    """Kubernetes' DefaultIngressClass: an Ingress that names no class (nor the deprecated
    kubernetes.io/ingress.class annotation) gets the default one, if there is one."""
    spec = ingress["spec"]
    annotations = ingress["metadata"].get("annotations") or {}
    if spec.get("ingressClassName") is None and "kubernetes.io/ingress.class" not in annotations:
        default = default_ingress_class(store)
        if default is not None:
            spec["ingressClassName"] = default


def admit_claim(store: Store, claim: Object) -> None:
    spec = claim["spec"]
    if spec.get("storageClassName") is None:
        default = default_storage_class(store)
        if default is not None:
            spec["storageClassName"] = default
    _add_finalizer(claim, persistentvolumeclaim.PROTECTION_FINALIZER)


def admit_pod(store: Store, pod: Object, rng: random.Random) -> None:
    """The ServiceAccount plugin, on a validated pod (JSON, changed in place)."""
    spec, namespace = pod["spec"], pod["metadata"]["namespace"]
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = name
    try:
        account = store.get("serviceaccounts", namespace, name)
    except NotFound:
        raise ApiError(403, "Forbidden", f'pods "{pod["metadata"].get("name") or ""}" is '
                       f"forbidden: error looking up service account {namespace}/{name}: "
                       f'serviceaccount "{name}" not found',
                       {"name": pod["metadata"].get("name") or "", "kind": "pods"}) from None
    if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [dict(s) for s in account["imagePullSecrets"]]
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = account.get("automountServiceAccountToken")
    if automount is False:
        return
    containers = [*spec.get("initContainers", ()), *spec["containers"]]
    if any(m.get("mountPath") == TOKEN_MOUNT_PATH for c in containers
           for m in c.get("volumeMounts") or ()):
        return  # the user mounts something there already
    volume = f"kube-api-access-{''.join(rng.choice(NAME_CHARS) for _ in range(5))}"
    spec.setdefault("volumes", []).append(access_volume(volume))
    for c in containers:
        c.setdefault("volumeMounts", []).append(
            {"name": volume, "mountPath": TOKEN_MOUNT_PATH, "readOnly": True})
