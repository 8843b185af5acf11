"""`scripts/lab` itself: idempotent up, repair, clear refusals, and a down that leaves nothing.

These tests bring up a throwaway lab of their own next to the suite's labs, so they also show
that labs with different names do not disturb each other.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from integration_tests.hosts import netns_pids, process_alive, wait_until

LAB = Path(__file__).resolve().parents[1] / "scripts" / "lab"
DAEMONS = ("dockerd", "containerd", "etcd", "containerd-shim", "containerd-shim-runc-v2",
           "orchestrator", "node-agent")


@pytest.fixture(autouse=True)
def netns_lab_only(request: pytest.FixtureRequest) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for path in request.config.getoption("inventory"):
        if '"kind": "netns"' not in Path(path).read_text():
            pytest.skip("tests of the netns lab tool")


def lab(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(LAB), *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"scripts/lab {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def _fast_test_fixture(pid: str) -> bool:
    """An etcd the fast tests started (tests/conftest.py names it so): a developer may run them
    while the suite runs; it is no lab's."""
    try:
        return b"--name=orch-fast-test-fixture" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


# Where a lab's name shows in the root namespace: its netns, directories, config and cgroups.
LAB_OF_ENTRY = re.compile(r"/run/netns/([a-z][a-z0-9]*)-|/(?:run|var/lib)/orch-lab/"
                          r"(?:integration-orchctl-)?([a-z][a-z0-9]*)|orch-lab-([a-z][a-z0-9]*)-")


def _another_labs(entry: str, lab_under_test: str) -> bool:
    """Whether an entry names a lab other than the one under test: the suite's own labs come
    and go in parallel workers meanwhile, and what they hold is theirs to clean up."""
    return any(name not in (None, lab_under_test)
               for m in LAB_OF_ENTRY.finditer(entry) for name in m.groups())


def root_namespace_snapshot(lab_under_test: str) -> dict[str, Counter[str]]:
    """What a lab must never leave behind in the root namespace, read with the system's tools:
    per category, a multiset of entries (lines of `ip`, `iptables-save`, mount points…)."""
    def out(*argv: str) -> list[str]:
        return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()

    # Daemons of other labs come and go with their tests: a process in another lab's live
    # namespace is theirs. One left in a namespace whose name is gone, or in the root
    # namespace, counts.
    others = set()
    for ns in Path("/run/netns").glob("*") if Path("/run/netns").exists() else ():
        if not ns.name.startswith(f"{lab_under_test}-"):
            try:
                others.add(os.stat(ns).st_ino)
            except OSError:
                pass
    daemons: Counter[str] = Counter()
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            if comm in DAEMONS and os.stat(f"/proc/{pid}/ns/net").st_ino in others:
                continue
        except OSError:
            continue
        if comm in DAEMONS and process_alive(pid) and not _fast_test_fixture(pid):
            daemons[comm] += 1
    snapshot = {
        "netns": [f"/run/netns/{n.split()[0]}" for n in out("ip", "netns", "list")],
        "links": [re.sub(r"^\d+: ", "", line) for line in out("ip", "-o", "link")],
        "addresses": out("ip", "-o", "addr"),
        "routes": out("ip", "route"),
        "iptables": [line for line in (re.sub(r"\[\d+:\d+\]", "", x) for x in out("iptables-save"))
                     if line and not line.startswith("#")],
        "mounts": [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()],
        "cgroups": glob.glob("/sys/fs/cgroup/*/orch-lab-*") + glob.glob("/sys/fs/cgroup/orch-lab-*"),
        "lab dirs": glob.glob("/run/orch-lab/*") + glob.glob("/var/lib/orch-lab/*"),
    }
    counted = {k: Counter(e for e in v if not _another_labs(e, lab_under_test))
               for k, v in snapshot.items()}
    counted["daemons"] = daemons
    return counted


def left_behind(before: dict[str, Counter[str]],
                after: dict[str, Counter[str]]) -> dict[str, Counter[str]]:
    """What `after` holds that `before` did not (other labs may have gone meanwhile)."""
    return {k: after[k] - before[k] for k in before if after[k] - before[k]}


def test_up_is_idempotent_repairs_and_down_leaves_nothing() -> None:
    name = f"lc{secrets.token_hex(3)}"
    before = root_namespace_snapshot(name)
    try:
        lab("--name", name, "up", "--hosts", "2", "--no-base-images")
        status = lab("--name", name, "status")
        assert status.stdout.count("healthy") == 2, status.stdout

        again = lab("--name", name, "up")
        assert "starting" not in again.stderr, f"a second up started something:\n{again.stderr}"
        for i in (1, 2):
            assert len(netns_pids(f"{name}-host{i}", "dockerd")) == 1
            assert len(netns_pids(f"{name}-host{i}", "etcd")) == 1

        refused = lab("--name", name, "up", "--hosts", "3", check=False)
        assert refused.returncode == 1 and "is up with 2 hosts" in refused.stderr

        [dockerd] = netns_pids(f"{name}-host2", "dockerd")
        os.kill(dockerd, signal.SIGKILL)
        wait_until(lambda: not process_alive(dockerd), 10, "dockerd to die")
        repaired = lab("--name", name, "up")
        assert "host2: starting dockerd" in repaired.stderr
        assert "host1: starting" not in repaired.stderr
        assert len(netns_pids(f"{name}-host2", "dockerd")) == 1
        docker_ps = lab("--name", name, "exec", "host2", "--", "docker", "ps")
        assert docker_ps.returncode == 0
    finally:
        lab("--name", name, "down")
    # Processes the lab killed may linger as zombies until PID 1 reaps them; they do not count.
    try:
        wait_until(lambda: not left_behind(before, root_namespace_snapshot(name)), 15,
                   "the root namespace to hold nothing the lab added")
    except AssertionError:
        raise AssertionError(left_behind(before, root_namespace_snapshot(name))) from None


@pytest.mark.parametrize("args,message", [
    (["--name", "Bad_Name", "up"], "lab name 'Bad_Name' is invalid"),
    (["--name", "okname", "up", "--hosts", "12"], "--hosts 12 is out of range"),
    (["--name", "nosuchlab", "status"], "lab 'nosuchlab' is not up"),
    (["--name", "nosuchlab", "kill", "host1"], "lab 'nosuchlab' is not up"),
], ids=["bad-name", "too-many-hosts", "status-of-missing-lab", "kill-in-missing-lab"])
def test_bad_input_is_refused_with_a_clear_message_and_creates_nothing(
        args: list[str], message: str) -> None:
    name = args[1]
    before = root_namespace_snapshot(name)
    proc = lab(*args, check=False)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not left_behind(before, root_namespace_snapshot(name))
