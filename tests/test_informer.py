"""The informer (kube.informer): list then watch, relist on 410 with the differences delivered
exactly once, indexes; first against a scripted client (the reflector's logic), then against the
real API server and etcd."""

from __future__ import annotations

import threading
import time

from kube.client import ApiError, Client, ObjectList, WatchEvent
from kube.informer import Informer


def obj(name: str, rv: int, ns: str = "d", **labels: str) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv),
                         "labels": labels}}


class ScriptedClient:
    """list() answers the next of `lists`; watch() plays the next of `streams` (a stream is a
    list of events, optionally ending with an exception to raise)."""

    def __init__(self, lists: list[list[dict]], streams: list[list]) -> None:
        self.lists, self.streams = lists, streams
        self.watched_from: list[str | None] = []
        self.done = threading.Event()

    def list(self, resource, namespace=None, label_selector=None, field_selector=None):
        items = self.lists.pop(0)
        return ObjectList(items, str(max([int(o["metadata"]["resourceVersion"]) for o in items],
                                         default=1)))

    def watch(self, resource, namespace=None, resource_version=None, label_selector=None,
              field_selector=None, timeout_seconds=300):
        self.watched_from.append(resource_version)
        if not self.streams:
            self.done.set()
            time.sleep(0.05)
            return
        for item in self.streams.pop(0):
            if isinstance(item, Exception):
                raise item
            yield item


def run(client: ScriptedClient) -> tuple[Informer, list[tuple]]:
    seen: list[tuple] = []
    informer = Informer(client, "configmaps")  # type: ignore[arg-type]
    informer.add_handler(on_add=lambda o: seen.append(("add", o["metadata"]["name"])),
                         on_update=lambda a, b: seen.append(("update", b["metadata"]["name"])),
                         on_delete=lambda o: seen.append(("delete", o["metadata"]["name"])))
    informer.start()
    assert client.done.wait(5)
    informer.stop()
    return informer, seen


def test_a_relist_after_410_delivers_what_the_watch_missed_exactly_once():
    client = ScriptedClient(
        lists=[[obj("a", 2), obj("b", 3)],
               [obj("a", 9), obj("c", 8), obj("d", 4)]],  # after the 410: a changed, b gone, c new
        streams=[[WatchEvent("ADDED", obj("d", 4)), WatchEvent("BOOKMARK", obj("", 5)),
                  ApiError(410, "Expired", "too old")],
                 []])
    informer, seen = run(client)
    assert seen == [("add", "a"), ("add", "b"), ("add", "d"),
                    ("update", "a"), ("add", "c"), ("delete", "b")]
    assert informer.has_synced()
    assert sorted(o["metadata"]["name"] for o in informer.list()) == ["a", "c", "d"]
    assert client.watched_from == ["3", "9", "9"]  # from each list's version, then again


def test_a_stream_that_ends_is_watched_again_from_the_last_version_seen():
    client = ScriptedClient(
        lists=[[obj("a", 2)]],
        streams=[[WatchEvent("MODIFIED", obj("a", 6))], [WatchEvent("BOOKMARK", obj("", 7))],
                 [WatchEvent("DELETED", obj("a", 8))]])
    informer, seen = run(client)
    assert seen == [("add", "a"), ("update", "a"), ("delete", "a")]
    assert client.watched_from == ["2", "6", "7", "8"]


def test_indexes_follow_changes():
    client = ScriptedClient(
        lists=[[obj("a", 2, app="web"), obj("b", 3, ns="e", app="web")]],
        streams=[[WatchEvent("MODIFIED", obj("a", 4, app="db"))]])
    informer, _ = run(client)
    assert [o["metadata"]["name"] for o in informer.by_label("app", "web")] == ["b"]
    assert [o["metadata"]["name"] for o in informer.by_label("app", "db")] == ["a"]
    assert [o["metadata"]["name"] for o in informer.by_namespace("e")] == ["b"]
    assert informer.get("d", "a")["metadata"]["resourceVersion"] == "4"


def test_a_failing_handler_does_not_stop_the_informer():
    client = ScriptedClient(lists=[[obj("a", 2)]], streams=[[WatchEvent("ADDED", obj("b", 3))]])
    informer = Informer(client, "configmaps")  # type: ignore[arg-type]
    names: list[str] = []
    informer.add_handler(on_add=lambda o: 1 / 0)
    informer.add_handler(on_add=lambda o: names.append(o["metadata"]["name"]))
    informer.start()
    assert client.done.wait(5)
    informer.stop()
    assert names == ["a", "b"]


def test_against_the_real_api_every_change_arrives(api, ns):
    client = Client(api.url, str(api.paths["ca.crt"]), api.tokens["admin"])
    seen: list[tuple] = []
    informer = Informer(client, "configmaps", namespace=ns, watch_seconds=5)
    informer.add_handler(on_add=lambda o: seen.append(("add", o["metadata"]["name"])),
                         on_update=lambda a, b: seen.append(("update", b["data"]["v"])),
                         on_delete=lambda o: seen.append(("delete", o["metadata"]["name"])))
    client.create("configmaps", {"metadata": {"name": "before"}, "data": {"v": "0"}}, ns)
    informer.start()
    try:
        assert informer.wait_for_sync(10)
        client.create("configmaps", {"metadata": {"name": "after"}, "data": {"v": "1"}}, ns)
        client.patch("configmaps", "after", {"data": {"v": "2"}}, ns)
        client.delete("configmaps", "before", ns)
        deadline = time.monotonic() + 10
        while len(seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen == [("add", "before"), ("add", "after"), ("update", "2"),
                        ("delete", "before")]
    finally:
        informer.stop()


def test_the_informers_objects_are_read_only_and_copy_into_mutable_ones():
    import copy

    client = ScriptedClient(lists=[[obj("a", 2, app="web")]], streams=[])
    informer, _ = run(client)
    shared = informer.get("d", "a")
    for change in (lambda: shared.__setitem__("spec", {}),
                   lambda: shared["metadata"]["labels"].update(app="db"),
                   lambda: shared["metadata"].pop("name")):
        try:
            change()
        except TypeError:
            continue
        raise AssertionError("a shared object was changed in place")
    mine = copy.deepcopy(shared)
    mine["metadata"]["labels"]["app"] = "db"
    assert informer.get("d", "a")["metadata"]["labels"] == {"app": "web"}
