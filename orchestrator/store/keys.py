"""Where objects live in etcd: /registry/{resource}/{namespace}/{name} for namespaced
resources, /registry/{resource}/{name} for cluster-scoped ones (nodes, namespaces); claims on
unique values (addresses) at /registry/allocations/{pool}/{value}. Only the store uses these."""

from __future__ import annotations

ROOT = "/registry"


def object_key(resource: str, namespace: str | None, name: str) -> str:
    if namespace:
        return f"{ROOT}/{resource}/{namespace}/{name}"
    return f"{ROOT}/{resource}/{name}"


def resource_prefix(resource: str, namespace: str | None = None) -> str:
    """The prefix under which every object of `resource` (in `namespace`, if given) lives.
    It ends with "/" so that "pods/default/" never matches "pods/default2/…"."""
    if namespace:
        return f"{ROOT}/{resource}/{namespace}/"
    return f"{ROOT}/{resource}/"


CLAIMS = f"{ROOT}/allocations"


def claim_key(pool: str, value: str) -> str:
    """Where the claim on `value` in `pool` lives (a CIDR's "/" becomes "-")."""
    return f"{CLAIMS}/{pool}/{value.replace('/', '-')}"


def claim_prefix(pool: str) -> str:
    return f"{CLAIMS}/{pool}/"


def split_key(resource: str, key: str) -> tuple[str | None, str]:
    """(namespace or None, name) of an object key under `resource`."""
    rest = key.removeprefix(resource_prefix(resource))
    namespace, _, name = rest.rpartition("/")
    return (namespace or None), name
