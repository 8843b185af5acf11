"""Fixtures for the suite that runs against live hosts.

    pytest integration_tests --inventory lab.json [--inventory other.json]

With no --inventory, the suite brings up its own netns labs (two, under unique names, at the
same time: the suite then also proves that labs do not collide) and tears them down at the end.
Every test that takes `cluster` runs once per lab.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from integration_tests import hosts
from integration_tests.hosts import Cluster, remove_test_containers, wait_until
from lab.inventory import load_inventory

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "scripts" / "lab"
OWN_LABS = 2  # each with 3 hosts and a master on every host (leader election)
OWN_LABS_ORCHCTL_CONFIG = Path("/run/orch-lab/integration-orchctl.config")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("live hosts")
    group.addoption("--inventory", action="append", default=[], metavar="FILE",
                    help="inventory of a live lab (repeatable); default: bring up own labs")
    group.addoption("--keep-labs", action="store_true",
                    help="leave the labs this run brought up running (for debugging)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cluster" in metafunc.fixturenames:
        n = len(metafunc.config.getoption("inventory")) or OWN_LABS
        metafunc.parametrize("lab_index", range(n), ids=[f"lab{i + 1}" for i in range(n)],
                             scope="session")


def lab(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(LAB), *args], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/lab {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def unique_lab_name(suffix: str) -> str:
    return f"it{secrets.token_hex(3)}{suffix}"  # lowercase, short: the lab name rule


@pytest.fixture(scope="session")
def clusters(request: pytest.FixtureRequest) -> list[Cluster]:
    given = request.config.getoption("inventory")
    if given:
        given_clusters = [Cluster(load_inventory(Path(p))) for p in given]
        hosts.TIMEOUT_SCALE = max(float(c.inventory.raw.get("timeout_scale", 1))
                                  for c in given_clusters)
        yield given_clusters
        return
    if os.geteuid() != 0:
        pytest.exit("the integration suite brings up netns labs and needs root", returncode=4)
    names = [unique_lab_name(chr(ord("a") + i)) for i in range(OWN_LABS)]
    # `scripts/lab up` adds each lab's context to orchctl's configuration and makes it current:
    # these labs write to a file of their own, not the user's ~/.orch/config.
    os.environ["ORCHCTL_CONFIG"] = str(OWN_LABS_ORCHCTL_CONFIG)
    OWN_LABS_ORCHCTL_CONFIG.unlink(missing_ok=True)
    try:
        with ThreadPoolExecutor(len(names)) as pool:
            list(pool.map(lambda n: lab("--name", n, "up", "--masters", "3"), names))
        yield [Cluster(load_inventory(Path(f"/run/orch-lab/{n}/inventory.json"))) for n in names]
    finally:
        if not request.config.getoption("keep_labs"):
            for n in names:
                lab("--name", n, "down")
            OWN_LABS_ORCHCTL_CONFIG.unlink(missing_ok=True)


@pytest.fixture
def cluster(clusters: list[Cluster], lab_index: int) -> Cluster:
    """One live lab. Afterwards: a host the test powered off or cut off is brought back, every
    host is healthy again (so tests do not depend on each other's faults), and the containers
    the test labelled are removed."""
    c = clusters[lab_index]
    yield c
    if c.inventory.control:
        def healthy(rows) -> bool:
            return all(r.get("power") == "on" and r.get("network") == "attached"
                       and r.get("etcd") == "healthy" and r.get("dockerd") == "answers"
                       and r.get("master") in ("answers", "-")
                       and r.get("agent") in ("ready", "-") for r in rows)

        rows = c.status()  # one look when all is well (it costs ~0.5 s)
        if not healthy(rows):
            for row in rows:
                if row.get("power") == "off":
                    c.power_on(c.host(row["host"]))
                if row.get("network") == "partitioned":
                    c.heal(c.host(row["host"]))
            if any(row.get("master") == "down" for row in c.status()):
                c.control("up")  # a test killed a master process: `up` repairs
            wait_until(lambda: healthy(c.status()), 60, f"every host of {c.name} to be healthy")
    for host in c.hosts:
        client = c.docker(host)
        try:
            remove_test_containers(client)
        finally:
            client.close()


@pytest.fixture
def ns(cluster: Cluster):
    """A namespace of the test's own on the lab's API, deleted afterwards with what is in it."""
    api = cluster.api()
    name = f"it{secrets.token_hex(4)}"
    api.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": name}}).raise_for_status()
    yield name
    for p in api.get(f"/api/v1/namespaces/{name}/pods").json().get("items", []):
        api.delete(f"/api/v1/namespaces/{name}/pods/{p['metadata']['name']}",
                   json={"gracePeriodSeconds": 0})
    api.delete(f"/api/v1/namespaces/{name}")
