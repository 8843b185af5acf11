"""An API object as the wire carries it: Kubernetes JSON (`apiVersion`, `kind`, `metadata`,
`spec`, `status`), parsed. The one name for it; the typed models (kube/kinds) validate it on its
way into the store.

Objects read from the store, a watch cache or an informer are shared: never change one in
place; copy first (copy.deepcopy, or build a new dict)."""

from __future__ import annotations

from typing import Any

Object = dict[str, Any]
