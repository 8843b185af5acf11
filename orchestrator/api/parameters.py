"""The query parameters each verb honours (pure). Refuse, never ignore: a parameter that is not
in its verb's table is answered 400 naming it, so a client that asks for something this server
does not do gets an error, never a response that looks as if it had been done. `dryRun=All` is
honoured on every write (create, update, patch, delete, deletecollection): everything runs,
nothing is written (Store.dry_run_view); any other value is refused.

Parameters that only label a request (`pretty`, `fieldManager`) are accepted everywhere they
are in Kubernetes. Values are checked here too where a value changes the meaning:
`fieldValidation` is honoured as Strict (every model refuses unknown fields), so Warn and Ignore,
which ask for unknown fields to be dropped, are refused.
"""

from __future__ import annotations

from collections.abc import Mapping

from kube.durations import parse_duration
from kube.remotecommand import BadOptions, parse_bool
from kube.validation import FIELD_VALIDATIONS
from kube.errors import ApiError, bad_request

# every request may carry these: `pretty` (the output is the same) and `timeout`, the
# request's deadline (a Go duration; a watch's longest life)
LABELS_ONLY = frozenset({"pretty", "timeout"})
WRITE_LABELS = LABELS_ONLY | {"fieldManager"}
LIST = frozenset({"labelSelector", "fieldSelector", "resourceVersion", "resourceVersionMatch",
                  "limit", "continue", "timeoutSeconds"})
# A watch ignores `limit`, as Kubernetes' does (a watch is not paginated); resourceVersionMatch
# is for sendInitialEvents only (watch_start checks the combination).
WATCH = frozenset({"watch", "labelSelector", "fieldSelector", "resourceVersion",
                   "timeoutSeconds", "allowWatchBookmarks", "limit", "sendInitialEvents",
                   "resourceVersionMatch"})
DELETE = frozenset({"gracePeriodSeconds", "propagationPolicy", "orphanDependents"})

PARAMETERS: dict[str, frozenset[str]] = {
    # includeObject: what a Table's rows carry (server-side printing, kube/table.py)
    "get": LABELS_ONLY | {"resourceVersion", "includeObject"},
    "list": LABELS_ONLY | LIST | {"watch", "includeObject"},
    "watch": LABELS_ONLY | WATCH | {"includeObject"},
    "create": WRITE_LABELS | {"fieldValidation", "dryRun"},
    "update": WRITE_LABELS | {"fieldValidation", "dryRun"},
    "patch": WRITE_LABELS | {"fieldValidation", "dryRun", "force"},
    "delete": LABELS_ONLY | DELETE | {"dryRun"},
    # which objects go is chosen by the selectors only (the current objects, not a snapshot)
    "deletecollection": LABELS_ONLY | DELETE | {"labelSelector", "fieldSelector", "dryRun"},
    # subresources with parameters of their own
    "log": LABELS_ONLY | {"container", "follow", "previous", "timestamps", "tailLines",
                          "sinceSeconds", "sinceTime", "limitBytes"},
    # PodExecOptions, PodAttachOptions (kube/remotecommand.py)
    "exec": {"command", "container", "stdin", "stdout", "stderr", "tty"},
    "attach": {"container", "stdin", "stdout", "stderr", "tty"},
    "portforward": set(),
}

# Parameters Kubernetes has that this server does not implement yet, and why a client would
# send them: the 400 says so rather than only "unknown".
NOT_YET = {
    "dryRun": "a dry run is for writes (create, update, patch, delete)",
    "sendInitialEvents": "sendInitialEvents is for a watch (watch=true)",
    "force": "force is for a server-side apply (a PATCH)",
    "ports": "the v4.channel.k8s.io port-forward protocol (the one with ports=) is not "
             "implemented: port-forward speaks SPDY/3.1 through a WebSocket, as kubectl does",
    "insecureSkipTLSVerifyBackend": "the API server always verifies the node agent's "
                                    "certificate",
}


def request_timeout(query: Mapping[str, str]) -> float | None:
    """The `timeout` parameter in seconds (a Go duration: 30s, 1m), None without one."""
    if "timeout" not in query:
        return None
    try:
        seconds = parse_duration(query["timeout"])
    except ValueError as e:
        raise bad_request(f"timeout: {e}") from None
    if seconds <= 0:
        raise bad_request(f"timeout: {query['timeout']!r} must be positive")
    return seconds


def table_verb(verb: str, subresource: str | None) -> str:
    """The row of PARAMETERS a request is checked against."""
    if subresource in ("log", "exec", "attach", "portforward"):
        return subresource
    return verb


def check(verb: str, subresource: str | None, query: Mapping[str, str]) -> None:
    """Raise 400 for a parameter `verb` does not honour, or a value it cannot honour."""
    allowed = PARAMETERS[table_verb(verb, subresource)]
    for name in query:
        if name not in allowed:
            why = NOT_YET.get(name, f"not a parameter of {table_verb(verb, subresource)}")
            raise bad_request(f"query parameter {name!r} is not supported here: {why}")
    if "dryRun" in query:
        dry_run_value(query["dryRun"])
    if "timeout" in query:
        request_timeout(query)
    validation = query.get("fieldValidation")
    if validation is not None and validation not in FIELD_VALIDATIONS:
        raise bad_request(f"fieldValidation: Unsupported value: {validation!r}: supported "
                          "values: \"Ignore\", \"Strict\", \"Warn\"")
    for name in ("limit", "timeoutSeconds", "gracePeriodSeconds", "tailLines", "sinceSeconds",
                 "limitBytes"):
        if name in query:
            non_negative_int(query, name)


def non_negative_int(query: Mapping[str, str], name: str) -> int:
    value = query[name]
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"{name}={value!r}: not an integer") from None
    if number < 0:
        raise bad_request(f"{name}={value!r}: must be non-negative")
    return number


def flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean parameter as Go's strconv.ParseBool reads it (absent or empty: false)."""
    value = query.get(name)
    if not value:
        return False
    try:
        return parse_bool(name, value)
    except BadOptions:
        raise ApiError(400, "BadRequest", f"{name}={value!r}: not a boolean") from None


def dry_run_value(value: object) -> None:
    """Kubernetes' one dry-run value is All (every stage runs, none persists)."""
    if value != "All":
        raise bad_request(f"dryRun: Invalid dry run value {value!r}: supported values: 'All'")


def dry_run(query: Mapping[str, str]) -> bool:
    return query.get("dryRun") == "All"


def watch_start(query: Mapping[str, str]) -> tuple[bool, bool]:
    """(send the current objects first as ADDED, end them with the initial-events bookmark),
    as Kubernetes starts a watch: with no resourceVersion (or "0") the current objects come
    first; `sendInitialEvents=true` (which needs resourceVersionMatch=NotOlderThan and
    allowWatchBookmarks=true) sends them at least as new as resourceVersion, then a BOOKMARK
    annotated k8s.io/initial-events-end. Raises 400 for a combination Kubernetes refuses."""
    send = query.get("sendInitialEvents")
    match = query.get("resourceVersionMatch")
    if send not in (None, "true", "false"):
        raise bad_request(f"sendInitialEvents={send!r}: must be true or false")
    if send == "true":
        if match != "NotOlderThan":
            raise bad_request("sendInitialEvents=true requires resourceVersionMatch=NotOlderThan")
        if query.get("allowWatchBookmarks") not in ("1", "true"):
            raise bad_request("sendInitialEvents=true requires allowWatchBookmarks=true")
        return True, True
    if match is not None:
        raise bad_request("resourceVersionMatch is forbidden for a watch unless "
                          "sendInitialEvents is given")
    return query.get("resourceVersion") in (None, "", "0") and send is None, False
