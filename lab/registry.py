"""The lab's container registry: Debian's `docker-registry` (the CNCF distribution registry),
serving HTTPS with a certificate from the lab's CA and asking for a password (htpasswd,
bcrypt) for pulls and pushes, as a private registry does.

It sits on the lab network itself, on the switch's bridge at REGISTRY_IP:REGISTRY_PORT, so
every host reaches it as a machine of the LAN and no host's power or partition takes it away.
Every host's dockerd trusts the lab CA for it (`/etc/docker/certs.d/<registry>/ca.crt` in the
host's own /etc/docker). `lab up` pushes the lab's images there and writes the pull
credentials as the `kubernetes.io/dockerconfigjson` Secret `lab-registry` in `default`.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import docker

from lab import system
from lab.plan import LAB_SUBNET, LabPlan
from lab.system import LabError
from orchestrator.pki import issue_certificate

REGISTRY_IP = str(LAB_SUBNET.network_address + 2)
REGISTRY_PORT = 5000
REGISTRY = f"{REGISTRY_IP}:{REGISTRY_PORT}"
USER = "lab"
BINARY = "/usr/bin/docker-registry"
SECRET_NAME = "lab-registry"


def registry_dir(plan: LabPlan) -> Path:
    return plan.data_dir / "registry"


def pidfile(plan: LabPlan) -> Path:
    return plan.run_dir / "registry.pid"


def password(plan: LabPlan) -> str:
    path = registry_dir(plan) / "password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(18) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def config(plan: LabPlan) -> dict:
    root = registry_dir(plan)
    return {
        "version": 0.1,
        "log": {"level": "warn", "fields": {"service": "registry"}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")},
                    "delete": {"enabled": True}},
        "http": {"addr": REGISTRY, "tls": {"certificate": str(plan.pki_dir / "registry.crt"),
                                           "key": str(plan.pki_dir / "registry.key")},
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
        "auth": {"htpasswd": {"realm": "orch-lab", "path": str(root / "htpasswd")}},
    }


def running_pid(plan: LabPlan) -> int | None:
    return system.running_pid_with(pidfile(plan), BINARY)


def ensure_registry(plan: LabPlan, report) -> None:  # noqa: ANN001 - lifecycle's Report
    """The registry up and answering on the lab network (made the first time)."""
    if not Path(BINARY).exists():
        raise LabError(f"{BINARY} is missing: scripts/install-deps installs docker-registry")
    root = registry_dir(plan)
    (root / "data").mkdir(parents=True, exist_ok=True)
    issue_certificate(plan.pki_dir, "registry", "orch-lab-registry", [REGISTRY_IP])
    htpasswd = root / "htpasswd"
    if not htpasswd.exists():
        made = subprocess.run(["htpasswd", "-Bbn", USER, password(plan)], capture_output=True,
                              text=True, check=True)
        htpasswd.write_text(made.stdout)
    (root / "config.yml").write_text(json.dumps(config(plan), indent=2))  # YAML's superset
    system.ip(plan.switch_netns, "address", "replace", f"{REGISTRY_IP}/{LAB_SUBNET.prefixlen}",
              "dev", "br0")
    for host in plan.hosts:
        trusted = host.docker_config_dir / "certs.d" / REGISTRY / "ca.crt"
        trusted.parent.mkdir(parents=True, exist_ok=True)
        trusted.write_bytes((plan.pki_dir / "ca.crt").read_bytes())
    if running_pid(plan) is None:
        report(f"starting the registry on {REGISTRY}")
        argv = system.in_netns_argv(system.netns_path(plan.switch_netns),
                                    [BINARY, "serve", str(root / "config.yml")])
        pid = system.spawn_daemon(argv, plan.run_dir / "registry.log")
        pidfile(plan).write_text(f"{pid}\n")
    deadline = time.monotonic() + 30
    while not answers(plan):
        if time.monotonic() > deadline:
            raise LabError(f"the registry does not answer on {REGISTRY}: "
                           f"{system.tail(plan.run_dir / 'registry.log', 5)}")
        time.sleep(0.2)


def answers(plan: LabPlan) -> bool:
    """A TCP connection to the registry from the lab network (the switch's namespace)."""
    probe = (f"import socket; socket.create_connection(('{REGISTRY_IP}', {REGISTRY_PORT}), "
             "timeout=2).close()")
    done = subprocess.run(system.in_netns_argv(system.netns_path(plan.switch_netns),
                                               [sys.executable, "-c", probe]),
                          capture_output=True, check=False)
    return done.returncode == 0


def push(client: docker.DockerClient, plan: LabPlan, tag: str) -> str:
    """Push the local image `tag` to the registry as <registry>/<tag>; the name pushed."""
    target = f"{REGISTRY}/{tag}"
    client.images.get(tag).tag(target)
    auth = {"username": USER, "password": password(plan)}
    for line in client.images.push(target, auth_config=auth, stream=True, decode=True):
        if line.get("error"):
            raise LabError(f"pushing {target}: {line['error']}")
    return target


CATALOG_PROBE = """
import base64, json, ssl, sys, urllib.request
base, cafile, user, password = sys.argv[1:5]
context = ssl.create_default_context(cafile=cafile)
auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
def get(path):
    request = urllib.request.Request(base + path, headers={"Authorization": auth})
    with urllib.request.urlopen(request, context=context, timeout=10) as answer:
        return json.load(answer)
repositories = get("/v2/_catalog?n=1000").get("repositories") or []
print(json.dumps({r: sorted(get(f"/v2/{r}/tags/list").get("tags") or []) for r in repositories}))
"""


def catalog(plan: LabPlan) -> dict[str, list[str]]:
    """The registry's repositories and their tags, asked over HTTPS from the lab network with
    the pull credentials, as any client of the registry would."""
    argv = system.in_netns_argv(system.netns_path(plan.switch_netns), [
        sys.executable, "-c", CATALOG_PROBE, f"https://{REGISTRY}",
        str(plan.pki_dir / "ca.crt"), USER, password(plan)])
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"the registry's catalog: {done.stderr.strip().splitlines()[-1:]}")
    answer: dict[str, list[str]] = json.loads(done.stdout)
    return answer


def docker_config_json(plan: LabPlan) -> str:
    """The pull credentials as a docker config.json (a dockerconfigjson Secret's content)."""
    auth = base64.b64encode(f"{USER}:{password(plan)}".encode()).decode()
    return json.dumps({"auths": {REGISTRY: {"username": USER, "password": password(plan),
                                            "auth": auth}}})


def pull_secret(plan: LabPlan) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": SECRET_NAME, "namespace": "default"},
            "data": {".dockerconfigjson": base64.b64encode(
                docker_config_json(plan).encode()).decode()}}


def stop(plan: LabPlan) -> None:
    pid = running_pid(plan)
    if pid is not None:
        system.kill_now([pid])

