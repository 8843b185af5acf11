"""Fixtures for the suite that runs against live hosts.

    pytest integration_tests --inventory lab.json [--inventory other.json]

With no --inventory, the suite brings up its own netns labs (two, under unique names) and tears
them down at the end. The tests that take `cluster` are dealt out to the labs in turn, in
collection order (so each runs once, on a lab chosen the same way every run); with
`--every-lab` each runs on every lab instead. Under pytest-xdist (`scripts/test` runs
`-n <labs> --dist loadgroup`) each lab's tests form one group, so one worker brings up one lab
and runs its tests while the other lab's run beside it: the labs are up and busy at the same
time, faults included, which also proves that they do not disturb each other. Without xdist the
labs come up one after the other.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from integration_tests import hosts
from integration_tests.hosts import Cluster, remove_test_containers, wait_until
from lab.inventory import load_inventory

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "scripts" / "lab"
OWN_LABS = 2  # each with 3 hosts and a master on every host (leader election)


def own_lab_orchctl_config(lab_name: str) -> Path:
    """Where `scripts/lab up` writes the orchctl context of a lab this run brought up (a file
    per lab: labs come up in parallel workers; never the user's ~/.orch/config)."""
    return Path(f"/run/orch-lab/integration-orchctl-{lab_name}.config")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("live hosts")
    group.addoption("--inventory", action="append", default=[], metavar="FILE",
                    help="inventory of a live lab (repeatable); default: bring up own labs")
    group.addoption("--keep-labs", action="store_true",
                    help="leave the labs this run brought up running (for debugging)")
    group.addoption("--every-lab", action="store_true",
                    help="run each test on every lab (default: each on one, in turn)")


# per lab, the load of the test functions given to it so far (one each; a test of the Debian
# base images, all on lab 0, counts BASE_IMAGES_WEIGHT: they run real applications and take
# several times an average test)
DEALT = pytest.StashKey[list[int]]()
BASE_IMAGES_WEIGHT = 3


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cluster" not in metafunc.fixturenames:
        return
    config = metafunc.config
    n = len(config.getoption("inventory")) or OWN_LABS
    if config.getoption("every_lab"):
        labs = list(range(n))
    else:  # collection order is the same in every process (xdist requires it): so is this
        loads = config.stash.get(DEALT, None) or [0] * n
        if "base_images" in metafunc.fixturenames:
            labs = [0]  # the lab that loads the Debian base images (once, for all of these)
            loads[0] += BASE_IMAGES_WEIGHT
        else:  # the least loaded lab, so that both finish together
            labs = [min(range(n), key=lambda i: (loads[i], i))]
            loads[labs[0]] += 1
        config.stash[DEALT] = loads
    # One xdist group per lab (read by `--dist loadgroup`): a lab's tests share one worker,
    # so each lab is brought up once. The mark goes on the parameter, present from collection.
    metafunc.parametrize("lab_index", [pytest.param(i, marks=pytest.mark.xdist_group(
        f"lab{i + 1}")) for i in labs], ids=[f"lab{i + 1}" for i in labs], scope="session")


def lab(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(LAB), *args], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/lab {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def unique_lab_name(suffix: str) -> str:
    return f"it{secrets.token_hex(3)}{suffix}"  # lowercase, short: the lab name rule


@pytest.fixture(scope="session")
def lab_cluster(request: pytest.FixtureRequest, lab_index: int) -> Cluster:
    """The lab of `lab_index`: the inventory given for it, or a lab this process brings up the
    first time one of its tests runs, and tears down at the end of the session."""
    given = request.config.getoption("inventory")
    if given:
        clusters = [Cluster(load_inventory(Path(p))) for p in given]
        hosts.TIMEOUT_SCALE = max(float(c.inventory.raw.get("timeout_scale", 1))
                                  for c in clusters)
        yield clusters[lab_index]
        return
    if os.geteuid() != 0:
        pytest.exit("the integration suite brings up netns labs and needs root", returncode=4)
    name = unique_lab_name(chr(ord("a") + lab_index))
    # `scripts/lab up` adds the lab's context to orchctl's configuration and makes it current.
    os.environ["ORCHCTL_CONFIG"] = str(own_lab_orchctl_config(name))
    try:
        # The Debian base images are loaded by the tests that use them (the `base_images`
        # fixture), all dealt to one lab: the other lab never pays for them.
        lab("--name", name, "up", "--masters", "3", "--no-base-images")
        yield Cluster(load_inventory(Path(f"/run/orch-lab/{name}/inventory.json")))
    finally:
        if not request.config.getoption("keep_labs"):
            lab("--name", name, "down")
            own_lab_orchctl_config(name).unlink(missing_ok=True)


@pytest.fixture
def cluster(lab_cluster: Cluster) -> Cluster:
    """One live lab. Afterwards: a host the test powered off or cut off is brought back, every
    host is healthy again (so tests do not depend on each other's faults), and the containers
    the test labelled are removed."""
    c = lab_cluster
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
def base_images(cluster: Cluster) -> None:
    """The Debian base images (orch/debian:12, nginx, redis, python) on every host: loaded
    with the lab's own command (built first where not cached). A lab with no Debian mirror
    (the Vagrant lab's VMs) has none: the test is skipped."""
    if cluster.inventory.kind != "netns":
        pytest.skip("the Debian base images are built where the lab reaches a Debian mirror: "
                    f"the netns lab, not the {cluster.inventory.kind} lab")
    # the first call on a fresh machine builds them: minutes of CPU beside the other lab
    cluster.control("image", "base", timeout=1200)


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
