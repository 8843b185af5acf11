"""The inventory: rendered by the netns lab, read by the integration suite."""

from __future__ import annotations

import json
import sys

import pytest

from lab.inventory import InventoryError, load_inventory, parse_inventory, render_inventory
from lab.plan import make_plan


def test_a_rendered_inventory_reads_back_with_every_host():
    plan = make_plan("lab", 3)
    inv = parse_inventory(json.loads(json.dumps(render_inventory(plan, ["scripts/lab", "--name", "lab"]))))
    assert inv.name == "lab" and inv.kind == "netns"
    assert [h.name for h in inv.hosts] == ["host1", "host2", "host3"]
    assert inv.host("host2").address == "192.168.56.12"
    assert inv.host("host2").pod_cidr == "10.244.2.0/24"
    assert inv.host("host2").docker == "unix:///run/orch-lab/lab/host2/docker.sock"
    assert inv.host("host2").netns == "lab-host2"
    assert inv.host("host2").python == sys.executable  # the hosts share this machine's files
    assert inv.etcd_endpoints == ("https://192.168.56.11:2379", "https://192.168.56.12:2379",
                                  "https://192.168.56.13:2379")
    assert inv.etcd_tls == {"cacert": str(plan.pki_dir / "etcd-ca.crt"),
                            "cert": str(plan.pki_dir / "etcdctl-client.crt"),
                            "key": str(plan.pki_dir / "etcdctl-client.key")}
    assert inv.network["service_cidr"] == "10.96.0.0/12"
    assert inv.control == ("scripts/lab", "--name", "lab")


def _valid():
    return render_inventory(make_plan("lab", 2), [])


def _without(path):
    data = _valid()
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


@pytest.mark.parametrize("data,message", [
    ([], "must be a JSON object"),
    (_without(["kind"]), "inventory.kind is missing"),
    ({**_valid(), "kind": "cloud"}, "inventory.kind 'cloud' is not one of netns, vagrant"),
    ({**_valid(), "hosts": []}, "inventory.hosts is empty"),
    ({**_valid(), "hosts": "host1"}, "inventory.hosts must be a list, not str"),
    (_without(["hosts", 1, "pod_cidr"]), r"inventory.hosts\[1\].pod_cidr is missing"),
    (_without(["hosts", 0, "netns"]), r"inventory.hosts\[0\].netns is missing"),
    (_without(["etcd", "endpoints"]), "inventory.etcd.endpoints is missing"),
    (_without(["etcd", "key"]), "inventory.etcd.key is missing"),
], ids=["not-object", "no-kind", "unknown-kind", "no-hosts", "hosts-not-list", "host-no-cidr",
        "netns-host-no-netns", "no-etcd-endpoints", "etcd-cert-without-key"])
def test_a_malformed_inventory_is_refused_naming_the_field(data, message):
    with pytest.raises(InventoryError, match=message):
        parse_inventory(data)


def test_an_unreadable_or_non_json_file_is_refused_naming_the_file(tmp_path):
    with pytest.raises(InventoryError, match="cannot read inventory"):
        load_inventory(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(InventoryError, match="bad.json is not JSON"):
        load_inventory(bad)


def test_a_vagrant_inventory_needs_no_netns():
    data = _valid()
    data["kind"] = "vagrant"
    for h in data["hosts"]:
        del h["netns"]
        h["ssh"] = {"host": h["address"], "user": "vagrant"}
    inv = parse_inventory(data)
    assert inv.hosts[0].netns is None and inv.hosts[0].ssh["user"] == "vagrant"
