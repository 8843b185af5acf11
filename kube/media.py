"""Content negotiation by the Accept header's `as`/`g`/`v` parameters, as Kubernetes reads them
(`application/json;as=Table;g=meta.k8s.io;v=v1`). Pure."""

from __future__ import annotations


def accepted_as(accept: str, group: str, kind: str, versions: tuple[str, ...]) -> str | None:
    """The version of the first media type in `accept` that asks for `kind` of `group` in one of
    `versions` (in the client's order), or None when none does."""
    for media in accept.split(","):
        params = dict(p.strip().partition("=")[::2] for p in media.split(";")[1:])
        if params.get("as") == kind and params.get("g") == group and params.get("v") in versions:
            return params["v"]
    return None
