"""Bearer-token authentication and the authorizer. Pure: the server supplies the request's
attributes and, for node writes to pods, the node the pod is bound to.

Token file (JSON, written by the lab or an operator):

    {"tokens": [{"token": "…", "user": "admin", "groups": ["system:masters"]},
                {"token": "…", "user": "viewer", "groups": ["system:readonly"]},
                {"token": "…", "user": "system:node:host1", "groups": ["system:nodes"]}]}

Service account tokens (JWTs the API servers sign, orchestrator/api/tokens.py) authenticate as
system:serviceaccount:<ns>:<name>, groups system:serviceaccounts and
system:serviceaccounts:<ns>.

Rules:
    system:masters   everything
    system:readonly  get, list, watch
    service accounts get, list, watch in their own namespace, but not Secrets (what
                     Kubernetes' `view` role allows); until role-based access control
                     lands, nothing else, but for the ingress controller's
                     (ingress-nginx/ingress-nginx): what ingress-nginx's ClusterRole grants
    system:nodes     reads; its own Node (and its status); its own Lease in kube-node-lease,
                     and the load balancer announcement Leases (orch-lb-*, any namespace);
                     the status of pods bound to it, and deleting them (after termination);
                     creating and updating Events. Anything else is 403.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path

MASTERS, READONLY, NODES = "system:masters", "system:readonly", "system:nodes"
SERVICE_ACCOUNTS = "system:serviceaccounts"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
NODE_USER_PREFIX = "system:node:"
NODE_LEASE_NAMESPACE = "kube-node-lease"
# the Leases by which nodes elect the announcer of each LoadBalancer Service
# (node_agent/loadbalancer/speaker.py)
LOAD_BALANCER_LEASE_PREFIX = "orch-lb-"
READ_VERBS = frozenset({"get", "list", "watch"})
# The ingress controller's service account (deploy/ingress-nginx.yaml) and what it may do: the
# ClusterRole ingress-nginx's manifests bind to it, built in until role-based access control
# lands.
INGRESS_CONTROLLER_ACCOUNT = f"{SERVICE_ACCOUNT_PREFIX}ingress-nginx:ingress-nginx"
INGRESS_CONTROLLER_READS = frozenset({"ingresses", "ingressclasses", "services", "endpoints",
                                      "secrets", "namespaces", "pods", "nodes"})


def _ingress_controller(attrs: RequestAttributes, own: str) -> tuple[bool, str]:
    if attrs.verb in READ_VERBS and attrs.resource in INGRESS_CONTROLLER_READS:
        return True, ""
    if attrs.resource == "ingresses" and attrs.subresource == "status" and \
            attrs.verb in ("update", "patch"):
        return True, ""
    if attrs.resource == "events" and attrs.verb in ("create", "update", "patch"):
        return True, ""
    if attrs.resource == "leases" and attrs.namespace == own:
        return True, ""
    return False, "not one of the ingress controller's permissions"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()

    @property
    def node_name(self) -> str | None:
        if NODES in self.groups and self.name.startswith(NODE_USER_PREFIX):
            return self.name.removeprefix(NODE_USER_PREFIX)
        return None

    @property
    def service_account_namespace(self) -> str | None:
        if SERVICE_ACCOUNTS in self.groups and self.name.startswith(SERVICE_ACCOUNT_PREFIX):
            return self.name.removeprefix(SERVICE_ACCOUNT_PREFIX).split(":", 1)[0]
        return None


def service_account_user(namespace: str, name: str) -> User:
    return User(f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
                (SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{namespace}", "system:authenticated"))


@dataclass(frozen=True)
class RequestAttributes:
    verb: str  # get list watch create update patch delete
    resource: str  # "pods", "nodes", … ("" for non-resource paths)
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    bound_node: str | None = None  # pods: the node the pod is bound to (for node users)


@dataclass
class TokenAuthenticator:
    _by_digest: dict[bytes, User] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path) -> TokenAuthenticator:
        data = json.loads(Path(path).read_text())
        auth = cls()
        for i, entry in enumerate(data.get("tokens", [])):
            if not entry.get("token") or not entry.get("user"):
                raise ValueError(f"{path}: tokens[{i}] needs a token and a user")
            auth.add(entry["token"], User(entry["user"], tuple(entry.get("groups", ()))))
        return auth

    def add(self, token: str, user: User) -> None:
        self._by_digest[hashlib.sha256(token.encode()).digest()] = user

    def authenticate(self, authorization_header: str | None) -> User | None:
        """The user of an `Authorization: Bearer …` header, or None."""
        if not authorization_header:
            return None
        scheme, _, token = authorization_header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = hashlib.sha256(token.strip().encode()).digest()
        # The digests are looked up by equality of fixed-size hashes, so the comparison's
        # timing tells nothing about the token; compare_digest keeps that explicit.
        for known, user in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                return user
        return None


def authorize(user: User, attrs: RequestAttributes) -> tuple[bool, str]:
    """(allowed, reason). The reason is shown to the user in a 403."""
    if MASTERS in user.groups:
        return True, ""
    if attrs.verb in READ_VERBS and (READONLY in user.groups or NODES in user.groups):
        return True, ""
    if READONLY in user.groups:
        return False, "read-only access"
    own = user.service_account_namespace
    if user.name == INGRESS_CONTROLLER_ACCOUNT:
        allowed, why = _ingress_controller(attrs, own or "")
        if allowed:
            return True, ""
    if own is not None:
        if attrs.verb in READ_VERBS and attrs.namespace == own and attrs.resource != "secrets":
            return True, ""
        return False, (f"a service account may only read objects in its own namespace "
                       f"({own}), Secrets excepted")
    node = user.node_name
    if node is None:
        return False, "no rule allows it"
    if attrs.resource == "nodes" and attrs.verb in ("create", "update", "patch"):
        if attrs.name == node:
            return True, ""
        return False, f"a node may only modify its own Node object ({node})"
    if attrs.resource == "leases" and attrs.verb in ("create", "update", "patch"):
        if attrs.namespace == NODE_LEASE_NAMESPACE and attrs.name == node:
            return True, ""
        if attrs.namespace != NODE_LEASE_NAMESPACE and \
                (attrs.name or "").startswith(LOAD_BALANCER_LEASE_PREFIX):
            return True, ""
        return False, (f"a node may only modify its own Lease ({NODE_LEASE_NAMESPACE}/{node}) "
                       f"and load balancer Leases ({LOAD_BALANCER_LEASE_PREFIX}*)")
    if attrs.resource == "pods":
        if attrs.bound_node != node:
            return False, f"the pod is not bound to node {node}"
        if attrs.subresource == "status" and attrs.verb in ("update", "patch"):
            return True, ""
        if attrs.subresource is None and attrs.verb == "delete":
            return True, ""
        return False, "a node may only update the status of its pods and delete them"
    if attrs.resource == "events" and attrs.verb in ("create", "update", "patch"):
        return True, ""
    if attrs.resource == "serviceaccounts" and attrs.subresource == "token" and \
            attrs.verb == "create":
        return True, ""  # for its pods only: checked with the body (serviceaccounts.py)
    return False, f"nodes may not {attrs.verb} {attrs.resource}"
