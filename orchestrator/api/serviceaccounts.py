"""Service accounts in the API server: the TokenRequest subresource (`POST
…/serviceaccounts/NAME/token`, what the agent asks for a pod's projected token and `kubectl
create token` sends) and the check that an authenticated service account token still
stands for something that exists.

A token is bound to a pod (or to nothing): it is accepted while the service account and that
pod exist with the uids it names, as Kubernetes' bound tokens are. A node may ask only for a
token bound to a pod of its own.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import ValidationError

from kube.field_errors import FieldError
from kube.kinds.serviceaccount import TokenRequest
from kube.objects import Object
from kube.registry import by_kind
from kube.timestamps import now_rfc3339, parse_time
from kube.validation import Invalid, field_path
from orchestrator.api.auth import User
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError, forbidden
from orchestrator.api.tokens import Claims, TokenSigner

SA, POD = by_kind("v1", "ServiceAccount"), by_kind("v1", "Pod")


def request_token(objects: Objects, signer: TokenSigner, namespace: str, name: str,
                  body: object, user: User) -> Object:
    """The TokenRequest answered: a signed token for service account `name`."""
    try:
        request = TokenRequest.model_validate(body if isinstance(body, dict) else {})
    except ValidationError as e:
        raise Invalid("TokenRequest", name, [
            FieldError(field_path(tuple(err["loc"])), err["msg"]) for err in e.errors()
        ]) from None
    account = objects.get(SA, namespace, name)
    pod: tuple[str, str] | None = None
    ref = request.spec.bound_object_ref
    if ref is not None:
        if ref.kind != "Pod":
            raise Invalid("TokenRequest", name, [FieldError(
                "spec.boundObjectRef.kind", f"Unsupported value: {ref.kind!r}: supported "
                "values: \"Pod\"")])
        bound = objects.get(POD, namespace, ref.name)
        uid = bound["metadata"]["uid"]
        if ref.uid and ref.uid != uid:
            raise ApiError(409, "Conflict", f'the UID in the bound object reference '
                           f'({ref.uid}) does not match the UID in record ({uid})')
        if user.node_name is not None and bound["spec"].get("nodeName") != user.node_name:
            raise forbidden(user.name, "create", "serviceaccounts/token",
                            f"the pod is not bound to node {user.node_name}")
        if (bound["spec"].get("serviceAccountName") or "default") != name:
            raise ApiError(400, "BadRequest", f'pod "{ref.name}" runs as service account '
                           f'"{bound["spec"].get("serviceAccountName")}", not "{name}"')
        pod = (ref.name, uid)
    elif user.node_name is not None:
        raise forbidden(user.name, "create", "serviceaccounts/token",
                        "a node may only request tokens bound to its pods")
    audiences = request.spec.audiences or [signer.issuer]
    token, expires = signer.issue(namespace, name, account["metadata"]["uid"], audiences,
                                  request.spec.expiration_seconds, pod)
    spec = request.spec.to_dict()
    spec["audiences"] = audiences
    if pod is not None:
        spec["boundObjectRef"] = {"kind": "Pod", "apiVersion": "v1", "name": pod[0],
                                  "uid": pod[1]}
    stamp = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "metadata": {"name": name, "namespace": namespace,
                         "creationTimestamp": now_rfc3339()},
            "spec": spec, "status": {"token": token, "expirationTimestamp": stamp}}


def still_bound(objects: Objects, claims: Claims) -> bool:
    """The token's service account, and the pod it is bound to, still exist with its uids
    (read from the watch caches: every request with a token asks)."""
    accounts, _ = objects.store.cached("serviceaccounts", claims.namespace)
    account = next((a for a in accounts if a["metadata"]["name"] == claims.service_account),
                   None)
    if account is None or (claims.service_account_uid and
                           account["metadata"].get("uid") != claims.service_account_uid):
        return False
    if claims.pod_name is None:
        return True
    pods, _ = objects.store.cached("pods", claims.namespace)
    pod = next((p for p in pods if p["metadata"]["name"] == claims.pod_name), None)
    if pod is None or pod["metadata"].get("uid") != claims.pod_uid:
        return False
    # a terminating pod's token lasts until its grace period is over
    going = parse_time(pod["metadata"].get("deletionTimestamp"))
    return going is None or going > datetime.now(timezone.utc)
