"""What each API verb does to objects: validation, the fields the server owns, the status
subresource, allocations, graceful pod deletion, namespace deletion, binding and scale.

Synchronous (it calls etcd); the HTTP server runs it in worker threads. Every write is one
etcd transaction: validation happens before it, so an invalid request writes nothing.

Server-owned fields: metadata.uid, creationTimestamp, generation (+1 when spec changes),
resourceVersion, deletionTimestamp; status is written only through the status subresource
(a main-resource update keeps the stored status; a status update keeps the stored spec).
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from kube import fieldmanager as fm
from kube.objects import Object
from kube.registry import RESOURCES, ResourceType, by_kind
from kube.selectors import selects
from kube.timestamps import now_rfc3339
from kube.validation import FieldError, Invalid, validate_create, validate_update
from orchestrator.api import quota
from orchestrator.api.admission import admit, root_ca_configmap
from orchestrator.api import allocation
from orchestrator.api.patch import merge_patch
from orchestrator.api.status import ApiError, bad_request, not_found
from orchestrator.store import AlreadyExists, Claim, ClaimsTaken, Conflict, NotFound, Page, Store
from orchestrator.store.pagination import Continue, decode_continue
from orchestrator.store.store import parse_resource_version

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Kinds whose status a client cannot set on create (the controllers and agents own it).
ALLOCATION_ATTEMPTS = 20
GENERATE_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


class Objects:
    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None,
                 rng: random.Random | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.rng = rng or random.SystemRandom()
        self.manager: str | None = None  # as_manager()
        self.field_validation = "Strict"  # validating()
        self.warnings: list[str] = []
        # the cluster CA's PEM, published with each namespace as the ConfigMap
        # kube-root-ca.crt (pods' projected token volumes read it); None: not published
        self.root_ca: str | None = None

    def as_manager(self, manager: str) -> Objects:
        """These verbs writing as `manager` (metadata.managedFields) unless a call names
        another: how the in-process controllers and scheduler are recorded."""
        view = copy.copy(self)
        view.manager = manager
        return view

    def validating(self, field_validation: str) -> Objects:
        """These verbs for one request: fields Kubernetes does not know are handled as
        `field_validation` says (kube/validation.py), the warnings collected in
        `self.warnings` (the request's Warning headers)."""
        view = copy.copy(self)
        view.field_validation, view.warnings = field_validation, []
        return view

    def dry_run_view(self) -> Objects:
        """These verbs over the store's dry-run view: every check and allocation runs, and
        nothing is written (the response is the object that would have been stored)."""
        view = copy.copy(self)
        view.store = self.store.dry_run_view()
        return view

    # --- setup ---

    def ensure_system_namespaces(self) -> None:
        rt = by_kind("v1", "Namespace")
        for name in SYSTEM_NAMESPACES:
            try:
                self.create(rt, None, {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": name}})
            except ApiError as e:
                if e.code != 409:
                    raise
                self.ensure_default_service_account(name)

    def ensure_default_service_account(self, namespace: str) -> None:
        """A namespace's `default` ServiceAccount and its kube-root-ca.crt ConfigMap, made with
        the namespace (Kubernetes' controllers make them a moment later; a pod created right
        after its namespace would then fail once), and remade by the service account
        controller when deleted."""
        made: list[tuple[ResourceType, Object]] = [(by_kind("v1", "ServiceAccount"), {
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": namespace}})]
        if self.root_ca is not None:
            made.append((by_kind("v1", "ConfigMap"), root_ca_configmap(namespace, self.root_ca)))
        for rt, body in made:
            try:
                self.create(rt, namespace, body)
            except ApiError as e:
                if e.code not in (403, 409):  # 403: the namespace is terminating
                    raise

    # --- reads ---

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Object:
        try:
            return self.store.get(rt.resource, namespace, name)
        except NotFound:
            raise not_found(rt.resource, name, rt.group) from None

    def list(self, rt: ResourceType, namespace: str | None, label_selector: str | None = None,
             field_selector: str | None = None) -> tuple[list[Object], int]:
        predicate = selects(label_selector, field_selector, rt.selectable_fields)
        items, revision = self.store.list(rt.resource, namespace)
        return [o for o in items if predicate(o)], revision

    def list_page(self, rt: ResourceType, namespace: str | None, read: ListRequest) -> Page:
        """A list as Kubernetes reads one: at the current revision, at an exact one, or (with a
        continue token) at the revision of the list's first page; at most `read.limit` objects
        (0: all of them). resourceVersion N with NotOlderThan is answered from the current
        revision, which is newer, unless N is in the future (504, as Kubernetes)."""
        predicate = selects(read.label_selector, read.field_selector, rt.selectable_fields) \
            if read.label_selector or read.field_selector else None
        if read.limit:
            page = self.store.list_page(rt.resource, namespace, read.limit, read.after,
                                        read.exact, predicate)
        else:
            items, revision = (self.store.list_at(rt.resource, namespace, read.exact)
                               if read.exact else self.store.list(rt.resource, namespace))
            page = Page([o for o in items if predicate is None or predicate(o)], revision, None,
                        None)
        if read.not_older_than > page.revision:
            raise too_large(read.not_older_than, page.revision)
        return page

    # --- create ---

    def create(self, rt: ResourceType, namespace: str | None, body: Any,
               manager: str | None = None) -> Object:
        """`manager` (the request's field manager) owns what it set (metadata.managedFields,
        kube/fieldmanager.py); without one the body's managedFields stand as they are."""
        if rt.namespaced and namespace is None and isinstance(body, dict):
            namespace = (body.get("metadata") or {}).get("namespace")
        obj = validate_create(rt, body, namespace, self.field_validation, self.warnings)
        if rt.namespaced:
            self._check_namespace_accepts(obj["metadata"]["namespace"])
        metadata = obj["metadata"]
        metadata.pop("resourceVersion", None)
        metadata.pop("deletionTimestamp", None)
        metadata.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(self.clock),
                        generation=1)
        if rt.status_on_create == "reset":  # the kind's strategy: its owners write status
            obj.pop("status", None)
        if rt.initial_status is not None:
            obj["status"] = copy.deepcopy(dict(rt.initial_status))
        if rt.prepare_create is not None and (errors := rt.prepare_create(obj)):
            raise Invalid(rt.kind, metadata.get("name", ""), errors)
        admit(self.store, rt.kind, obj, self.rng)
        quota.admit(self.store, self._write_quota_status, rt, obj)
        manager = manager or self.manager
        if manager is not None:
            metadata["managedFields"] = fm.track_update(
                None, obj, manager, rt.api_version, rt.merge, now_rfc3339(self.clock))
        if not metadata.get("managedFields"):
            metadata.pop("managedFields", None)
        errors = allocation.check_requested(rt.kind, obj)
        if errors:
            raise Invalid(rt.kind, metadata.get("name", ""), errors)

        generate = not metadata.get("name") and metadata.get("generateName")
        avoid: set[Claim] = set()
        pick_pod_cidr = rt.kind == "Node" and not (obj.get("spec") or {}).get("podCIDR")
        for _ in range(ALLOCATION_ATTEMPTS):
            if generate:
                metadata["name"] = metadata["generateName"] + "".join(
                    self.rng.choice(GENERATE_NAME_CHARS) for _ in range(5))
            if pick_pod_cidr:
                # Pod CIDRs are handed out from the bottom: start from those taken now (one
                # read) rather than discover them one failed transaction at a time.
                avoid = {allocation.pod_cidr_claim(c)
                         for c in self.store.claimed(allocation.POD_CIDRS)}
            candidate, chosen = allocation.assign(rt.kind, obj, self.rng, avoid)
            held = allocation.held_claims(rt.kind, candidate)
            try:
                created = self.store.create_claiming(rt.resource, candidate, held)
                if rt.kind == "Namespace":
                    self.ensure_default_service_account(created["metadata"]["name"])
                return created
            except AlreadyExists:
                if generate:
                    continue
                raise ApiError(409, "AlreadyExists",
                               f'{rt.resource} "{candidate["metadata"]["name"]}" already '
                               "exists", {"name": candidate["metadata"]["name"],
                                          "kind": rt.resource}) from None
            except ClaimsTaken as e:
                self._raise_if_requested_taken(rt, candidate, e.taken, chosen, held)
                avoid |= set(e.taken)
        raise ApiError(503, "ServiceUnavailable", "could not allocate an address: the range is "
                       "too full or too contended; retry")

    def _raise_if_requested_taken(self, rt: ResourceType, obj: Object, taken: tuple[Any, ...],
                                  chosen: set[Claim], held: dict[Claim, str]) -> None:
        """Values the user asked for that another object holds: 422 naming their fields
        (values this server chose are simply chosen again)."""
        requested = [c for c in taken if c in held and c not in chosen]
        if requested:
            what = {allocation.CLUSTER_IPS: "IP", allocation.NODE_PORTS: "port"}
            errors = [FieldError(held[c], f"Invalid value: provided {what.get(c.pool, 'CIDR')} "
                                 f"is already allocated ({c.value})") for c in requested]
            raise Invalid(rt.kind, obj["metadata"]["name"], errors)

    def _write_quota_status(self, namespace: str, name: str, body: Object) -> Object:
        """A quota's status, only if it is still at the version read (the charge is
        counted again otherwise)."""
        return self.update(quota.QUOTA, namespace, name, body, subresource="status")

    def _check_namespace_accepts(self, namespace: str) -> None:
        try:
            ns = self.store.get("namespaces", None, namespace)
        except NotFound:
            raise not_found("namespaces", namespace) from None
        if (ns.get("status") or {}).get("phase") == "Terminating":
            raise ApiError(403, "Forbidden", f"unable to create new content in namespace "
                           f"{namespace} because it is being terminated")

    # --- update / patch ---

    def update(self, rt: ResourceType, namespace: str | None, name: str, body: Any,
               subresource: str | None = None, manager: str | None = None) -> Object:
        if not isinstance(body, dict):
            raise bad_request("the body must be a JSON object")
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise bad_request(f"the name of the object ({body_name}) does not match the name "
                              f"on the URL ({name})")
        old = self.get(rt, namespace, name)
        requested = parse_resource_version((body.get("metadata") or {}).get("resourceVersion"))
        if requested and str(requested) != old["metadata"]["resourceVersion"]:
            raise _conflict(rt, name)
        return self._write_update(rt, namespace, name, old, body, subresource, manager)

    def patch(self, rt: ResourceType, namespace: str | None, name: str, patch: Any,
              subresource: str | None = None, manager: str | None = None) -> Object:
        """JSON merge patch (what the control plane's own writers send)."""
        if not isinstance(patch, dict):
            raise bad_request("a merge patch must be a JSON object")
        pinned = (patch.get("metadata") or {}).get("resourceVersion")
        return self.apply_patch(rt, namespace, name, lambda old: merge_patch(old, patch),
                                str(pinned) if pinned else None, subresource, manager)

    def apply_patch(self, rt: ResourceType, namespace: str | None, name: str,
                    apply: Callable[[Object], Any], pinned: str | None = None,
                    subresource: str | None = None, manager: str | None = None) -> Object:
        """A patch of any type (`apply`: the stored object → the patched one, see
        orchestrator/api/patch.py), validated and written like an update. With `pinned` (the
        resourceVersion the patch names) a changed object is a 409; without, a concurrent write
        makes this re-read and re-apply (the patch is applied to the latest object)."""
        for _ in range(10):
            old = self.get(rt, namespace, name)
            if pinned and pinned != old["metadata"]["resourceVersion"]:
                raise _conflict(rt, name)
            body = apply(copy.deepcopy(old))
            if not isinstance(body, dict):
                raise ApiError(422, "Invalid", "the patched object is not a JSON object")
            try:
                return self._write_update(rt, namespace, name, old, body, subresource, manager)
            except ApiError as e:
                if e.code != 409 or pinned:
                    raise
        raise _conflict(rt, name)

    def server_side_apply(self, rt: ResourceType, namespace: str | None, name: str,
                          config: Any, manager: str, force: bool = False,
                          subresource: str | None = None) -> tuple[Object, bool]:
        """Server-side apply (kube/fieldmanager.py): create the object from `config`, or lay
        `config` over it as `manager`'s, removing what `manager` no longer applies; 409 naming
        the fields another manager owns unless `force`. kubectl's first apply after its
        client-side applies takes over the fields its last-applied annotation still
        describes, and its later applies keep that annotation current (as Kubernetes does).
        The object, and whether it was created."""
        config = _checked_apply_config(rt, namespace, name, config)
        now = now_rfc3339(self.clock)
        writer = copy.copy(self)
        writer.manager = None  # the apply's managedFields are written as they are
        for _ in range(10):
            try:
                live = self.get(rt, namespace, name)
            except ApiError as e:
                if e.code != 404 or subresource:
                    raise
                try:
                    return writer.create(rt, namespace, fm.apply(
                        None, config, manager, rt.api_version, rt.merge, now)), True
                except ApiError as e:
                    if e.reason != "AlreadyExists":
                        raise
                    continue  # created meanwhile: apply to it
            new = _applied(rt, live, config, manager, force, now, subresource or "")
            try:
                return writer._write_update(rt, namespace, name, live, new, subresource), False
            except ApiError as e:
                if e.code != 409:  # written meanwhile: apply to the latest
                    raise
        raise _conflict(rt, name)

    def _write_update(self, rt, namespace, name, old, body, subresource,
                      manager: str | None = None) -> Object:
        body = copy.deepcopy(body)
        if subresource == "status":
            new = {**copy.deepcopy(old), "status": body.get("status")}
            if new["status"] is None:
                new.pop("status")
        else:
            new = body
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        metadata = new.setdefault("metadata", {})
        for owned in ("uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation"):
            if owned in old["metadata"]:
                metadata[owned] = old["metadata"][owned]
            else:
                metadata.pop(owned, None)
        metadata["name"] = name
        if rt.namespaced:
            metadata["namespace"] = old["metadata"]["namespace"]
        new = allocation.carry_over(rt.kind, old, new)
        out = validate_update(rt, old, new, namespace, self.field_validation, self.warnings)
        errors = allocation.check_requested(rt.kind, out)
        if errors:
            raise Invalid(rt.kind, name, errors)
        if rt.kind == "Service" and subresource is None:  # a new type may take node ports
            quota.admit(self.store, self._write_quota_status, rt, out, old)
        if out.get("spec") != old.get("spec"):
            out["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        manager = manager or self.manager
        if manager is not None:
            out["metadata"]["managedFields"] = fm.track_update(
                old, out, manager, rt.api_version, rt.merge, now_rfc3339(self.clock),
                subresource or "")
        if not out["metadata"].get("managedFields"):
            out["metadata"].pop("managedFields", None)
        out["metadata"].pop("resourceVersion", None)
        if out["metadata"].get("deletionTimestamp") and not out["metadata"].get("finalizers") \
                and rt.kind not in ("Pod", "Namespace"):
            # The last finalizer is gone from an object being deleted: it goes now.
            return self._delete_now(rt, old)

        old_held = allocation.held_claims(rt.kind, old)
        avoid: set[Claim] = set()
        for _ in range(ALLOCATION_ATTEMPTS):
            candidate, chosen = allocation.assign(rt.kind, out, self.rng, avoid)
            held = allocation.held_claims(rt.kind, candidate)
            try:
                return self.store.update_claiming(
                    rt.resource, old, candidate,
                    claim=[c for c in held if c not in old_held],
                    release=[c for c in old_held if c not in held])
            except NotFound:
                raise not_found(rt.resource, name, rt.group) from None
            except Conflict:
                raise _conflict(rt, name) from None
            except ClaimsTaken as e:
                self._raise_if_requested_taken(rt, candidate, e.taken, chosen, held)
                avoid |= set(e.taken)
        raise ApiError(503, "ServiceUnavailable", "could not allocate an address; retry")

    # --- delete ---

    def delete(self, rt: ResourceType, namespace: str | None, name: str,
               resource_version: str | None = None,
               grace_period_seconds: int | None = None,
               propagation_policy: str | None = None, uid: str | None = None) -> Object:
        """Delete, Kubernetes' way (only the object at `resource_version`, and with `uid`, when
        given: DeleteOptions' preconditions). `propagation_policy` says what happens to the objects this
        one owns: Background (default: it goes now, the garbage collector deletes its
        dependents after it), Foreground (it stays, marked, with the foregroundDeletion
        finalizer until the collector has deleted its dependents), Orphan (it stays, marked,
        with the orphan finalizer until the collector has removed it from its dependents'
        ownerReferences). An object with finalizers is only marked (deletionTimestamp); it is
        removed when an update takes its last finalizer away."""
        if propagation_policy not in PROPAGATION_POLICIES:
            raise bad_request(f"propagationPolicy {propagation_policy!r} is not one of "
                              "Orphan, Background, Foreground")
        # Without a resourceVersion precondition, a concurrent write (a controller updating
        # the object's status) is not the caller's conflict: read again and retry, as
        # Kubernetes' registry does.
        for attempt in range(8):
            try:
                return self._delete_once(rt, namespace, name, resource_version,
                                         grace_period_seconds, propagation_policy, uid)
            except ApiError as e:
                if e.code != 409 or resource_version or attempt == 7:
                    raise
        raise AssertionError("unreachable")

    def _delete_once(self, rt: ResourceType, namespace: str | None, name: str,
                     resource_version: str | None, grace_period_seconds: int | None,
                     propagation_policy: str | None, uid: str | None = None) -> Object:
        old = self.get(rt, namespace, name)
        if resource_version and resource_version != old["metadata"]["resourceVersion"]:
            raise _conflict(rt, name)
        if uid and uid != old["metadata"].get("uid"):
            raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: {uid}, "
                           f"UID in object meta: {old['metadata'].get('uid')}",
                           {"name": name, "kind": rt.resource})
        if rt.graceful_deletion:
            graceful = self._delete_pod_gracefully(rt, old, grace_period_seconds)
            if graceful is not None:
                return graceful
        if rt.kind == "Namespace":
            return self._delete_namespace(rt, old)
        finalizers = list(old["metadata"].get("finalizers") or [])
        wanted = {"Orphan": ORPHAN_FINALIZER, "Foreground": FOREGROUND_FINALIZER}.get(
            propagation_policy or "") if rt.kind != "Pod" else None  # pods own nothing here
        if wanted and wanted not in finalizers:
            finalizers.append(wanted)
        if finalizers:
            return self._mark_deleted(rt, old, finalizers)
        return self._delete_now(rt, old)

    def _mark_deleted(self, rt: ResourceType, old: Object, finalizers: list[str]) -> Object:
        marked = copy.deepcopy(old)
        marked["metadata"]["finalizers"] = finalizers
        marked["metadata"].setdefault("deletionTimestamp", now_rfc3339(self.clock))
        marked["metadata"].setdefault("deletionGracePeriodSeconds", 0)
        if marked == old:
            return old
        try:
            return self.store.update(rt.resource, marked)
        except Conflict:
            raise _conflict(rt, old["metadata"]["name"]) from None

    def _delete_now(self, rt: ResourceType, old: Object) -> Object:
        name = old["metadata"]["name"]
        try:
            return self.store.delete_releasing(rt.resource, old,
                                               allocation.held_claims(rt.kind, old))
        except NotFound:
            raise not_found(rt.resource, name, rt.group) from None
        except Conflict:
            raise _conflict(rt, name) from None

    def _delete_pod_gracefully(self, rt: ResourceType, pod: Object,
                               grace: int | None) -> Object | None:
        """A pod bound to a node is only marked (deletionTimestamp): its node's agent stops the
        containers within the grace period and then deletes it with grace 0. An unbound pod, or
        grace 0, is deleted at once (returns None)."""
        spec, metadata = pod.get("spec") or {}, pod["metadata"]
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        if not spec.get("nodeName") or grace == 0:
            return None
        current = metadata.get("deletionGracePeriodSeconds")
        if current is not None and current <= grace:
            return pod  # already terminating at least as fast
        marked = copy.deepcopy(pod)
        marked["metadata"]["deletionTimestamp"] = now_rfc3339(
            lambda: self.clock() + timedelta(seconds=grace))
        marked["metadata"]["deletionGracePeriodSeconds"] = grace
        try:
            return self.store.update(rt.resource, marked)
        except Conflict:
            raise _conflict(rt, metadata["name"]) from None

    def _delete_namespace(self, rt: ResourceType, ns: Object) -> Object:
        """Mark the namespace Terminating (no new content), delete everything in it, and delete
        it once empty; `finish_terminating_namespaces` completes what is left (pods that are
        still terminating on their nodes)."""
        name = ns["metadata"]["name"]
        if name in SYSTEM_NAMESPACES:
            raise ApiError(403, "Forbidden", f'namespace "{name}" may not be deleted')
        if (ns.get("status") or {}).get("phase") != "Terminating":
            marked = copy.deepcopy(ns)
            marked["status"] = {"phase": "Terminating"}
            marked["metadata"]["deletionTimestamp"] = now_rfc3339(self.clock)
            try:
                ns = self.store.update(rt.resource, marked)
            except Conflict:
                raise _conflict(rt, name) from None
        return self._empty_and_delete_namespace(rt, ns) or ns

    def _empty_and_delete_namespace(self, rt: ResourceType, ns: Object) -> Object | None:
        name = ns["metadata"]["name"]
        remaining = 0
        for other in RESOURCES:
            if not other.namespaced:
                continue
            items, _ = self.store.list(other.resource, name)
            for obj in items:
                try:
                    self.delete(other, name, obj["metadata"]["name"])
                except ApiError as e:
                    if e.code != 404:
                        raise
            remaining += len(self.store.list(other.resource, name)[0])
        if remaining:
            return None
        try:
            return self._delete_now(rt, self.get(rt, None, name))
        except ApiError as e:
            if e.code == 404:
                return ns
            raise

    def finish_terminating_namespaces(self) -> None:
        """Periodic: complete the deletion of Terminating namespaces that have emptied."""
        rt = by_kind("v1", "Namespace")
        for ns in self.store.list(rt.resource)[0]:
            if (ns.get("status") or {}).get("phase") == "Terminating":
                self._empty_and_delete_namespace(rt, ns)

    # --- subresources ---

    def bind(self, namespace: str, name: str, binding: Any) -> Object:
        """pods/{name}/binding: set spec.nodeName of an unbound pod (compare-and-swap)."""
        if not isinstance(binding, dict) or not (binding.get("target") or {}).get("name"):
            raise Invalid("Binding", name, [FieldError("target.name", "Required value",
                                                       "FieldValueRequired")])
        node = binding["target"]["name"]
        rt = by_kind("v1", "Pod")
        pod = self.get(rt, namespace, name)
        if pod["spec"].get("nodeName"):
            raise ApiError(409, "Conflict", f'pod {name} is already assigned to node '
                           f'"{pod["spec"]["nodeName"]}"')
        if pod["metadata"].get("deletionTimestamp"):
            raise ApiError(409, "Conflict", f"pod {name} is being deleted, cannot be assigned")
        bound = copy.deepcopy(pod)
        bound["spec"]["nodeName"] = node
        try:
            return self.store.update(rt.resource, bound)
        except Conflict:
            raise _conflict(rt, name) from None

    def get_scale(self, rt: ResourceType, namespace: str, name: str) -> Object:
        return scale_of(self.get(rt, namespace, name))

    def update_scale(self, rt: ResourceType, namespace: str, name: str, scale: Any,
                     manager: str | None = None) -> Object:
        replicas = _valid_replicas(scale, name)
        pinned = ((scale.get("metadata") or {}).get("resourceVersion"))
        patch: Object = {"spec": {"replicas": replicas}}
        if pinned:
            patch["metadata"] = {"resourceVersion": pinned}
        # the object as written (or, in a dry run, as it would be)
        return scale_of(self.patch(rt, namespace, name, patch, manager=manager))

    def patch_scale(self, rt: ResourceType, namespace: str, name: str,
                    apply: Callable[[Object], Any], manager: str | None = None) -> Object:
        """A patch of the scale subresource: applied to the Scale object, whose replicas are
        then written (as kube-apiserver patches /scale). As with any patch, only a
        resourceVersion the patch itself sets pins the write: a concurrent write (a
        controller's status) makes it re-read and re-apply, not a 409."""
        def scaled(old: Object) -> Object:
            scale = apply(scale_of(old))
            replicas = _valid_replicas(scale, name)
            pinned = ((scale.get("metadata") or {}).get("resourceVersion")
                      if isinstance(scale, dict) else None)
            if pinned and str(pinned) != old["metadata"]["resourceVersion"]:
                raise _conflict(rt, name)
            return merge_patch(old, {"spec": {"replicas": replicas}})
        return scale_of(self.apply_patch(rt, namespace, name, scaled, manager=manager))


def _checked_apply_config(rt: ResourceType, namespace: str | None, name: str,
                          config: Any) -> Object:
    """An apply configuration names its kind and object (400 when it does not)."""
    if not isinstance(config, dict):
        raise bad_request("an apply configuration must be an object")
    if config.get("apiVersion") != rt.api_version or config.get("kind") != rt.kind:
        raise bad_request(f"an apply configuration must have apiVersion {rt.api_version!r} "
                          f"and kind {rt.kind!r} (got {config.get('apiVersion')!r}, "
                          f"{config.get('kind')!r})")
    metadata = config.get("metadata")
    if not isinstance(metadata, dict):
        raise bad_request("an apply configuration must have metadata")
    if metadata.get("name") not in (None, name):
        raise bad_request(f"the name of the object ({metadata['name']}) does not match the "
                          f"name on the URL ({name})")
    if metadata.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil in an apply configuration")
    config = copy.deepcopy(config)
    config["metadata"]["name"] = name
    if rt.namespaced and namespace:
        config["metadata"].setdefault("namespace", namespace)
    return config


def _applied(rt: ResourceType, live: Object, config: Object, manager: str, force: bool,
             now: str, subresource: str) -> Object:
    try:
        new = fm.apply(live, config, manager, rt.api_version, rt.merge, now, force, subresource)
    except fm.Conflicts as e:
        new = fm.apply(live, config, manager, rt.api_version, rt.merge, now, True, subresource)
        allowed = fm.allowed_by_last_applied(live, rt.merge) if manager == "kubectl" else set()
        rest = [c for c in e.conflicts if c.path not in allowed]
        if rest:
            # an invalid configuration is that (422), whoever owns its fields
            validate_update(rt, live, new, live["metadata"].get("namespace"), "Ignore", [])
            raise ApiError(409, "Conflict", fm.conflict_message(rest), {"causes": [
                {"reason": "FieldManagerConflict", "message": f"conflict with {c.manager}",
                 "field": fm.path_text(c.path)} for c in rest]}) from None
    annotations = (new.get("metadata") or {}).get("annotations") or {}
    if manager == "kubectl" and annotations.get(fm.LAST_APPLIED):
        last = copy.deepcopy(config)
        (last["metadata"].get("annotations") or {}).pop(fm.LAST_APPLIED, None)
        if not last["metadata"].get("annotations"):
            last["metadata"].pop("annotations", None)
        annotations[fm.LAST_APPLIED] = json.dumps(last, separators=(",", ":"))
    return new


def _valid_replicas(scale: Any, name: str) -> int:
    replicas = ((scale or {}).get("spec") or {}).get("replicas") if isinstance(scale, dict) \
        else None
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise Invalid("Scale", name, [FieldError("spec.replicas", "Invalid value: must be "
                                                 "a non-negative integer")])
    return replicas


def scale_of(obj: Object) -> Object:
    """The autoscaling/v1 Scale of a Deployment or ReplicaSet."""
    name, namespace = obj["metadata"]["name"], obj["metadata"].get("namespace")
    selector = (obj["spec"].get("selector") or {}).get("matchLabels") or {}
    return {"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": name, "namespace": namespace,
                         "uid": obj["metadata"].get("uid"),
                         "resourceVersion": obj["metadata"].get("resourceVersion", ""),
                         "creationTimestamp": obj["metadata"].get("creationTimestamp")},
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in selector.items())}}


def too_large(wanted: int, current: int) -> ApiError:
    """A read "not older than" a version the store has not reached: 504, as Kubernetes answers
    (the client retries)."""
    return ApiError(504, "Timeout", f"Too large resource version: {wanted}, current: {current}",
                    {"causes": [{"reason": "ResourceVersionTooLarge",
                                 "message": "Too large resource version"}],
                     "retryAfterSeconds": 1})


@dataclass(frozen=True)
class ListRequest:
    """What a list asks for, parsed from its query (list_request)."""

    label_selector: str | None = None
    field_selector: str | None = None
    limit: int = 0  # 0: no limit
    after: Continue | None = None  # the continue token of the previous page
    exact: int | None = None  # read at exactly this revision
    not_older_than: int = 0  # the revision read must be at least this one


def list_request(query: Mapping[str, str]) -> ListRequest:
    """Kubernetes' list semantics of resourceVersion, resourceVersionMatch, limit and continue
    (pure; bad combinations are 400s worded as Kubernetes words them):

        resourceVersion   resourceVersionMatch   reads
        unset / ""        -                      the current revision
        "0"               -                      any revision: the current one
        N                 unset, no limit        not older than N: the current revision
        N                 unset, with limit      exactly N (legacy, as Kubernetes)
        N                 NotOlderThan           not older than N
        N                 Exact                  exactly N (410 once compacted)
    """
    rv, match = query.get("resourceVersion"), query.get("resourceVersionMatch")
    limit = int(query.get("limit") or 0)
    token = query.get("continue")
    after = decode_continue(token) if token else None
    if after is not None and rv:
        raise bad_request("specifying resource version is not allowed when using continue")
    if match is not None:
        if match not in ("Exact", "NotOlderThan"):
            raise bad_request(f'resourceVersionMatch: Unsupported value: "{match}": supported '
                              'values: "Exact", "NotOlderThan"')
        if not rv:
            raise bad_request("resourceVersionMatch is forbidden unless resourceVersion is "
                              "provided")
        if after is not None:
            raise bad_request("resourceVersionMatch is forbidden when continue is provided")
    try:
        revision = parse_resource_version(rv)
    except ValueError as e:
        raise bad_request(str(e)) from None
    if match == "Exact" and revision == 0:
        raise bad_request('resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
    exact = match == "Exact" or (match is None and limit > 0 and revision > 0)
    return ListRequest(query.get("labelSelector"), query.get("fieldSelector"), limit, after,
                       revision if exact else None, 0 if exact else revision)


ORPHAN_FINALIZER, FOREGROUND_FINALIZER = "orphan", "foregroundDeletion"
PROPAGATION_POLICIES = (None, "Orphan", "Background", "Foreground")


def _conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.resource} "{name}": '
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again", {"name": name, "kind": rt.resource})

