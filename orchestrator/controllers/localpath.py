"""The local-path provisioner, as k3s ships one (Rancher's local-path-provisioner): a claim of
a class whose provisioner is `orchestrator/local-path` gets a directory on the node its first
pod is scheduled to, as a hostPath PersistentVolume pinned to that node; when the volume is
released and its reclaim policy is Delete, the directory and the volume are removed.

The directories are made and removed by helper pods on the node (kube-system
`helper-pod-{create,delete}-<volume>`, the lab's busybox image, the node's base directory
mounted), as Rancher's provisioner does: the master never touches a node's disk itself.

Where on each node: the ConfigMap kube-system/local-path-config, key `config.json`, in
Rancher's format —

    {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES",
                      "paths": ["/opt/local-path-provisioner"]},
                     {"node": "host1", "paths": ["/data/local-path"]}]}

— one of a node's paths chosen per volume (by its name's hash). The master makes that
ConfigMap, and the default StorageClass `local-path` (WaitForFirstConsumer, Delete), when
they do not exist. Only ReadWriteOnce and ReadWriteOncePod claims are served: a directory on
one node cannot be shared across nodes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import shlex

from kube.events import EventRecorder
from kube.kinds.persistentvolume import PROVISIONED_BY, PersistentVolume
from kube.kinds.persistentvolumeclaim import SELECTED_NODE, STORAGE_PROVISIONER, \
    PersistentVolumeClaim
from kube.kinds.storageclass import DEFAULT_CLASS_ANNOTATION, StorageClass
from kube.objects import Object
from kube.registry import ResourceType, by_kind
from kube.typed import typed
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller, Keys, object_key
from orchestrator.controllers.persistentvolume import CLAIM, VOLUME, storage_keys
from orchestrator.store.watchcache import WatchEvent

log = logging.getLogger(__name__)

PROVISIONER = "orchestrator/local-path"
DEFAULT_CLASS = "local-path"
CONFIG_NAMESPACE, CONFIG_NAME, CONFIG_KEY = "kube-system", "local-path-config", "config.json"
DEFAULT_NODE = "DEFAULT_PATH_FOR_NON_LISTED_NODES"
DEFAULT_PATH = "/opt/local-path-provisioner"
DEFAULT_HELPER_IMAGE = "orch/web:1"
HELPER_MOUNT = "/data"
# on a helper pod: the key of the claim or volume it works for
HELPER_FOR = "local-path.orchestrator/for"
HOSTNAME_LABEL = "kubernetes.io/hostname"
ACCESS_MODES = {"ReadWriteOnce", "ReadWriteOncePod"}
PV, PVC, POD = (by_kind("v1", "PersistentVolume"), by_kind("v1", "PersistentVolumeClaim"),
                by_kind("v1", "Pod"))
CM, SC = by_kind("v1", "ConfigMap"), by_kind("storage.k8s.io/v1", "StorageClass")


class ConfigError(ValueError):
    pass


# --- pure -------------------------------------------------------------------------------------

def default_config() -> str:
    return json.dumps({"nodePathMap": [{"node": DEFAULT_NODE, "paths": [DEFAULT_PATH]}]},
                      indent=2)


def node_paths(config: str, node: str) -> list[str]:
    """The base directories `config` (config.json) gives `node`: its own entry, else the
    default one. ConfigError where the document is not what Rancher's format says."""
    try:
        doc = json.loads(config)
        entries = doc["nodePathMap"]
        by_node = {e["node"]: e["paths"] for e in entries}
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{CONFIG_NAMESPACE}/{CONFIG_NAME} {CONFIG_KEY}: not a nodePathMap "
                          f"document ({e})") from None
    paths = by_node.get(node, by_node.get(DEFAULT_NODE))
    if not paths:
        raise ConfigError(f"no local path is configured for node {node!r} (and no "
                          f"{DEFAULT_NODE} entry)")
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/") or \
                posixpath.normpath(path) == "/":
            raise ConfigError(f"local path {path!r} for node {node!r}: must be an absolute "
                              "directory other than /")
    return [posixpath.normpath(p) for p in paths]


def pick_path(paths: list[str], volume: str) -> str:
    return paths[int(hashlib.sha256(volume.encode()).hexdigest(), 16) % len(paths)]


def volume_name(claim: PersistentVolumeClaim) -> str:
    """As external provisioners name theirs: pvc-<the claim's uid>."""
    return f"pvc-{claim.metadata.uid}"


def volume_for(claim: PersistentVolumeClaim, storage_class: StorageClass, node: str,
               base: str) -> Object:
    """The PersistentVolume that serves `claim` from a directory under `base` on `node`,
    pre-bound to the claim (the persistent volume controller completes the binding)."""
    name = volume_name(claim)
    meta = claim.metadata
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {PROVISIONED_BY: PROVISIONER,
                                                    SELECTED_NODE: node}},
        "spec": {
            "capacity": {"storage": (claim.spec.resources.requests or {})["storage"]},
            "accessModes": list(claim.spec.access_modes),
            "persistentVolumeReclaimPolicy": storage_class.reclaim_policy,
            "storageClassName": storage_class.metadata.name,
            "volumeMode": "Filesystem",
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": meta.namespace, "name": meta.name, "uid": meta.uid,
                         "resourceVersion": meta.resource_version},
            "hostPath": {"path": posixpath.join(base, f"{name}_{meta.namespace}_{meta.name}"),
                         "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}]}]}},
        },
    }


def helper_pod(operation: str, volume: str, node: str, path: str, image: str,
               for_key: str) -> Object:
    """A pod on `node` that makes (create) or removes (delete) the directory `path`, with its
    parent mounted; it runs once and tolerates every taint (a node may be cordoned)."""
    base, directory = posixpath.split(path)
    target = posixpath.join(HELPER_MOUNT, directory)
    script = (f"mkdir -m 0777 -p {shlex.quote(target)}" if operation == "create"
              else f"rm -rf {shlex.quote(target)}")
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"helper-pod-{operation}-{volume}", "namespace": CONFIG_NAMESPACE,
                     "labels": {"app": "local-path-provisioner-helper"},
                     "annotations": {HELPER_FOR: for_key}},
        "spec": {
            "nodeName": node, "restartPolicy": "Never", "automountServiceAccountToken": False,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "helper-pod", "image": image, "imagePullPolicy": "Never",
                            "command": ["sh", "-c", script],
                            "volumeMounts": [{"name": "data", "mountPath": HELPER_MOUNT}]}],
            "volumes": [{"name": "data", "hostPath": {"path": base,
                                                       "type": "DirectoryOrCreate"}}],
        },
    }


def node_of(volume: PersistentVolume) -> str | None:
    """The node a local-path volume lives on (its node affinity's hostname)."""
    affinity = volume.spec.node_affinity
    terms = affinity.required.node_selector_terms if affinity and affinity.required else []
    for term in terms:
        for e in term.match_expressions or ():
            if e.key == HOSTNAME_LABEL and e.operator == "In" and e.values:
                return e.values[0]
    return None


# --- the controller ---------------------------------------------------------------------------

class LocalPathProvisioner(Controller):
    name = "local-path-provisioner"

    def __init__(self, objects: Objects, helper_image: str = DEFAULT_HELPER_IMAGE) -> None:
        super().__init__(objects)
        self.helper_image = helper_image
        self.events = EventRecorder(objects, PROVISIONER)

    def start(self) -> None:
        try:
            self.ensure_defaults()
        except ApiError as e:  # the resync's syncs do not depend on it; the next start retries
            log.warning("local-path defaults: %s", e.message)
        super().start()

    def ensure_defaults(self) -> None:
        """The ConfigMap and the default StorageClass, where there are none."""
        if self.get_or_none(CM, CONFIG_NAMESPACE, CONFIG_NAME) is None:
            self._create_quietly(CM, CONFIG_NAMESPACE, {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": CONFIG_NAME, "namespace": CONFIG_NAMESPACE},
                "data": {CONFIG_KEY: default_config()}})
        if not self.store.list("storageclasses", None)[0]:
            self._create_quietly(SC, None, {
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": DEFAULT_CLASS,
                             "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
                "provisioner": PROVISIONER, "reclaimPolicy": "Delete",
                "volumeBindingMode": "WaitForFirstConsumer"})

    def _create_quietly(self, rt: ResourceType, namespace: str | None, body: Object) -> None:
        try:
            self.objects.create(rt, namespace, body)
        except ApiError as e:
            if e.code != 409:  # another master made it first
                raise

    def triggers(self) -> dict[str, Keys]:
        def from_helper(event: WatchEvent) -> list[str]:
            key = (event.object["metadata"].get("annotations") or {}).get(HELPER_FOR)
            return [key] if key else []
        return {"persistentvolumeclaims": lambda e: [CLAIM + object_key(e.object)],
                "persistentvolumes": lambda e: [VOLUME + e.object["metadata"]["name"]],
                "pods": from_helper}

    def all_keys(self) -> list[str]:
        return storage_keys(self.store)

    def sync(self, key: str) -> None:
        if key.startswith(CLAIM):
            namespace, name = key[len(CLAIM):].split("/", 1)
            self.provision(key, namespace, name)
        else:
            self.reclaim(key, key[len(VOLUME):])

    # --- provisioning ---

    def provision(self, key: str, namespace: str, name: str) -> None:
        raw = self.get_or_none(PVC, namespace, name)
        if raw is None:
            return
        claim = typed(PersistentVolumeClaim, raw)
        annotations = claim.metadata.annotations or {}
        if annotations.get(STORAGE_PROVISIONER) != PROVISIONER or claim.spec.volume_name or \
                claim.metadata.deletion_timestamp:
            return
        volume = volume_name(claim)
        if self.get_or_none(PV, None, volume) is not None:
            return  # made already; the persistent volume controller binds it
        raw_class = self.get_or_none(SC, None, claim.spec.storage_class_name or "")
        if raw_class is None:
            return
        storage_class = typed(StorageClass, raw_class)
        if storage_class.parameters:
            self._failed(claim, f"storage class {storage_class.metadata.name!r}: the local-path "
                         "provisioner takes no parameters (got "
                         f"{', '.join(sorted(storage_class.parameters))})")
            return
        node = annotations.get(SELECTED_NODE)
        if not node:
            self._failed(claim, "configuration error, no node was specified: the local-path "
                         "provisioner needs volumeBindingMode WaitForFirstConsumer")
            return
        unsupported = set(claim.spec.access_modes) - ACCESS_MODES
        if unsupported:
            self._failed(claim, "Only support ReadWriteOnce, ReadWriteOncePod access mode "
                         f"(not {', '.join(sorted(unsupported))})")
            return
        try:
            base = pick_path(node_paths(self._config(), node), volume)
        except ConfigError as e:
            self._failed(claim, str(e))
            return
        body = volume_for(claim, storage_class, node, base)
        if not self._helper_done("create", volume, node, body["spec"]["hostPath"]["path"],
                                 key, claim):
            return
        self.events.normal(claim, "Provisioning",
                           f'External provisioner is provisioning volume for claim '
                           f'"{namespace}/{name}"')
        try:
            self.objects.create(PV, None, body)
        except ApiError as e:
            if e.code != 409:
                raise
        self.events.normal(claim, "ProvisioningSucceeded",
                           f"Successfully provisioned volume {volume}")

    def _failed(self, obj: PersistentVolumeClaim | PersistentVolume, message: str) -> None:
        self.events.warning(obj, "ProvisioningFailed" if obj.kind == "PersistentVolumeClaim"
                            else "VolumeFailedDelete", message)

    def _config(self) -> str:
        raw = self.get_or_none(CM, CONFIG_NAMESPACE, CONFIG_NAME)
        if raw is None:
            return default_config()
        if CONFIG_KEY not in (raw.get("data") or {}):
            raise ConfigError(f"{CONFIG_NAMESPACE}/{CONFIG_NAME} has no {CONFIG_KEY}")
        return str(raw["data"][CONFIG_KEY])

    def _helper_done(self, operation: str, volume: str, node: str, path: str, key: str,
                     about: PersistentVolumeClaim | PersistentVolume) -> bool:
        """Whether the helper pod that does `operation` on `path` has succeeded (and is then
        removed); it is started where there is none, and a failed one is reported, removed
        and raised about, so the key is retried with back-off."""
        name = f"helper-pod-{operation}-{volume}"
        pod = self.get_or_none(POD, CONFIG_NAMESPACE, name)
        if pod is None:
            try:
                self.objects.create(POD, CONFIG_NAMESPACE, helper_pod(
                    operation, volume, node, path, self.helper_image, key))
            except ApiError as e:
                if e.code != 409:
                    raise
            return False
        phase = (pod.get("status") or {}).get("phase")
        if phase not in ("Succeeded", "Failed"):
            return False  # its changes wake this key
        self._delete_helper(name)
        if phase == "Failed":
            states = [s.get("state") or {} for s in
                      (pod.get("status") or {}).get("containerStatuses") or ()]
            detail = next((t.get("message") or t.get("reason") for s in states
                           if (t := s.get("terminated"))), "") or "the helper pod failed"
            self._failed(about, f"failed to {operation} volume {volume} on node {node}: "
                         f"{detail}")
            raise RuntimeError(f"helper pod {name} failed: {detail}")
        return True

    def _delete_helper(self, name: str) -> None:
        try:
            self.objects.delete(POD, CONFIG_NAMESPACE, name, grace_period_seconds=0)
        except ApiError as e:
            if e.code != 404:
                raise

    # --- reclaiming ---

    def reclaim(self, key: str, name: str) -> None:
        raw = self.get_or_none(PV, None, name)
        if raw is None:
            return
        volume = typed(PersistentVolume, raw)
        if (volume.metadata.annotations or {}).get(PROVISIONED_BY) != PROVISIONER or \
                volume.status.phase != "Released" or \
                volume.spec.persistent_volume_reclaim_policy != "Delete" or \
                volume.metadata.deletion_timestamp:
            return
        node, host_path = node_of(volume), volume.spec.host_path
        if node is None or host_path is None:
            self._failed(volume, f"volume {name} names no node or no hostPath")
            return
        if self.get_or_none(by_kind("v1", "Node"), None, node) is not None and \
                not self._helper_done("delete", name, node, host_path.path, key, volume):
            return
        # (a node that is gone took its directory with it)
        try:
            self.objects.delete(PV, None, name)
        except ApiError as e:
            if e.code != 404:
                raise
        log.info("deleted volume %s and its directory on %s", name, node)
