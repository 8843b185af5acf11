"""Paginated lists (limit / continue) and resourceVersion / resourceVersionMatch on lists, over
HTTPS against a real etcd: pages are one consistent snapshot, selectors fill pages, an expired
token is 410, bad combinations are 400 as Kubernetes words them."""

from __future__ import annotations

import pytest

from orchestrator.store import Etcd, Gone, Store
from orchestrator.store.pagination import Continue, InvalidContinue, decode_continue, encode_continue


@pytest.fixture
def configmaps(api, ns):
    admin = api.session("admin")
    url = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    for i in range(7):
        admin.post(url, json={"metadata": {"name": f"cm-{i}", "labels": {"odd": str(i % 2)}},
                              "data": {"v": "1"}}).raise_for_status()
    return admin, url


def _pages(admin, url, **params):
    pages, token = [], None
    while True:
        query = dict(params, **({"continue": token} if token else {}))
        r = admin.get(url, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        token = body["metadata"].get("continue")
        if not token:
            return pages


def test_pages_cover_the_list_in_order_and_count_what_remains(configmaps):
    admin, url = configmaps
    pages = _pages(admin, url, limit=3)
    assert [[o["metadata"]["name"] for o in p["items"]] for p in pages] == [
        ["cm-0", "cm-1", "cm-2"], ["cm-3", "cm-4", "cm-5"], ["cm-6"]]
    assert [p["metadata"].get("remainingItemCount") for p in pages] == [4, 1, None]
    # every page is read at the first page's revision
    assert len({p["metadata"]["resourceVersion"] for p in pages}) == 1


def test_later_pages_are_the_snapshot_of_the_first(configmaps):
    admin, url = configmaps
    first = admin.get(url, params={"limit": 3}).json()
    admin.patch(f"{url}/cm-4", json={"data": {"v": "2"}},
                headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    admin.post(url, json={"metadata": {"name": "cm-9"}}).raise_for_status()
    admin.delete(f"{url}/cm-5").raise_for_status()
    rest = admin.get(url, params={"limit": 10, "continue": first["metadata"]["continue"]}).json()
    assert [o["metadata"]["name"] for o in rest["items"]] == ["cm-3", "cm-4", "cm-5", "cm-6"]
    assert rest["items"][1]["data"] == {"v": "1"}
    now = admin.get(url).json()
    assert "cm-9" in [o["metadata"]["name"] for o in now["items"]]


def test_a_selector_fills_each_page_with_matching_objects(configmaps):
    admin, url = configmaps
    pages = _pages(admin, url, limit=2, labelSelector="odd=1")
    assert [[o["metadata"]["name"] for o in p["items"]] for p in pages] in (
        [["cm-1", "cm-3"], ["cm-5"]],)
    assert all("remainingItemCount" not in p["metadata"] for p in pages)


def test_exact_reads_the_past_and_not_older_than_refuses_the_future(configmaps):
    admin, url = configmaps
    before = admin.get(url).json()["metadata"]["resourceVersion"]
    admin.delete(f"{url}/cm-0").raise_for_status()
    past = admin.get(url, params={"resourceVersion": before, "resourceVersionMatch": "Exact"})
    assert "cm-0" in [o["metadata"]["name"] for o in past.json()["items"]]
    assert past.json()["metadata"]["resourceVersion"] == before
    now = admin.get(url, params={"resourceVersion": before,
                                 "resourceVersionMatch": "NotOlderThan"}).json()
    assert "cm-0" not in [o["metadata"]["name"] for o in now["items"]]
    future = admin.get(url, params={"resourceVersion": str(int(before) + 10_000),
                                    "resourceVersionMatch": "NotOlderThan"})
    assert future.status_code == 504 and future.json()["reason"] == "Timeout"
    # as Kubernetes: the Status's retryAfterSeconds is also a header clients act on
    assert future.headers["Retry-After"] == "1"
    assert future.json()["details"]["retryAfterSeconds"] == 1
    # legacy: resourceVersion N with a limit and no match is exact
    legacy = admin.get(url, params={"resourceVersion": before, "limit": 100}).json()
    assert "cm-0" in [o["metadata"]["name"] for o in legacy["items"]]


@pytest.mark.parametrize("params,words", [
    ({"continue": "not-a-token"}, "continue key is not valid"),
    ({"limit": 2, "continue": encode_continue(Continue(3, "a")), "resourceVersion": "5"},
     "not allowed when using continue"),
    ({"resourceVersionMatch": "Exact"}, "forbidden unless resourceVersion is provided"),
    ({"resourceVersionMatch": "Exact", "resourceVersion": "0"}, 'forbidden for resourceVersion "0"'),
    ({"resourceVersionMatch": "Newest", "resourceVersion": "5"}, "Unsupported value"),
    ({"limit": "-1"}, "must be non-negative"),
    ({"limit": "ten"}, "not an integer"),
], ids=lambda v: str(v))
def test_bad_list_parameters_are_400(api, ns, params, words):
    r = api.session("admin").get(f"{api.url}/api/v1/namespaces/{ns}/configmaps", params=params)
    assert r.status_code == 400 and words in r.json()["message"], r.text


def test_a_continue_token_is_kubernetes_shaped_and_checked():
    token = encode_continue(Continue(42, "ns/name\0"))
    assert decode_continue(token) == Continue(42, "ns/name\0")
    for bad in ("", "e30", encode_continue(Continue(42, "ns/x")).upper()):
        with pytest.raises(InvalidContinue):
            decode_continue(bad)


def test_a_continue_token_whose_revision_was_compacted_is_gone(private_etcd_server):
    store = Store(Etcd([private_etcd_server.url]))
    try:
        for i in range(3):
            store.create("configmaps", {"metadata": {"name": f"c{i}", "namespace": "d"}})
        page = store.list_page("configmaps", "d", 2)
        assert [o["metadata"]["name"] for o in page.items] == ["c0", "c1"] and page.next
        store.create("configmaps", {"metadata": {"name": "c3", "namespace": "d"}})
        store.etcd.compact(store.current_revision())
        with pytest.raises(Gone):
            store.list_page("configmaps", "d", 2, page.next)
    finally:
        store.close()
        store.etcd.close()


def test_a_list_that_outlasts_its_timeout_is_504(api, ns, monkeypatch):
    import time

    def slow(*args):
        time.sleep(2)

    admin = api.session("admin")
    url = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    assert admin.get(url, params={"timeoutSeconds": "30"}).status_code == 200
    monkeypatch.setattr(api.server.objects, "list_page", slow)
    r = admin.get(url, params={"timeoutSeconds": "1"})
    assert r.status_code == 504 and r.json()["reason"] == "Timeout"
    assert "timeoutSeconds" in r.json()["message"]
    assert "Retry-After" not in r.headers  # a retry would time out again
