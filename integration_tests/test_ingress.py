"""Ingress on the live lab, through the cluster's own ingress controller (deploy/
ingress-nginx.yaml: the project's controller driving a real nginx, in a Debian image), reached
from the client machine as a user's browser would: host and path rules, 404 for unknown
hosts, TLS by SNI with the Secret's certificate (openssl s_client reads it), HTTP redirected
to HTTPS, the controller's address in each Ingress's status, problems told as Events, and no
failed request while Ingresses change and the backends roll."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_kubectl import KUBECTL

REPO = Path(__file__).resolve().parents[1]
ANSWER = re.compile(r"host=(\S+) client=")
NETWORKING = "/apis/networking.k8s.io/v1"


def kubectl(cluster: Cluster, *args: str, ns: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(KUBECTL), f"--kubeconfig={cluster.inventory.raw['kubeconfig']}",
                           *(["-n", ns] if ns else []), *args],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 or not check, f"kubectl {' '.join(args)}: {done.stderr}"
    return done


@pytest.fixture(scope="module")
def _removed_at_the_end(lab_cluster: Cluster):
    """The ingress controller, once deployed by a test of this module, stays for the others
    and is removed after the last."""
    yield
    kubectl(lab_cluster, "delete", "-f", str(REPO / "deploy" / "ingress-nginx.yaml"),
            "--wait=false", check=False)
    wait_until(lambda: lab_cluster.api().get("/api/v1/namespaces/ingress-nginx").status_code
               == 404, 120, "the ingress-nginx namespace to be gone")


@pytest.fixture
def controller(cluster: Cluster, base_images, _removed_at_the_end) -> str:
    """The ingress controller deployed (applying it again changes nothing); its address (the
    LoadBalancer Service's)."""
    if cluster.inventory.client is None:
        pytest.skip("the inventory has no client machine")
    kubectl(cluster, "apply", "-f", str(REPO / "deploy" / "ingress-nginx.yaml"))
    rolled = kubectl(cluster, "rollout", "status", "deploy/ingress-nginx-controller",
                     "--timeout=120s", ns="ingress-nginx", check=False)
    if rolled.returncode != 0:
        pods = kubectl(cluster, "get", "pods", "-o", "wide", ns="ingress-nginx", check=False)
        events = kubectl(cluster, "get", "events", ns="ingress-nginx", check=False)
        pytest.fail(f"the controller did not roll out: {rolled.stderr}\n{pods.stdout}\n"
                    f"{events.stdout}{controller_logs(cluster, everything=True)}")

    def address() -> str | None:
        svc = cluster.api().get("/api/v1/namespaces/ingress-nginx/services/"
                                "ingress-nginx-controller").json()
        ingress = (svc.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        return ingress[0]["ip"] if ingress else None
    return wait_until(address, 60, "the controller's address")


def backends(cluster: Cluster, ns: str, *names: str, graceful: bool = False) -> None:
    """Deployments of orch/web:1 (2 replicas) and their Services. `graceful`: each pod keeps
    serving 3 s after it is told to stop (a preStop sleep), the time the Endpoints and the
    proxy take to stop sending it new requests: Kubernetes' advice for a rollout that
    drops nothing, since a pod's address vanishes with it."""
    for name in names:
        kubectl(cluster, "create", "deployment", name, "--image=orch/web:1", "--replicas=2",
                "--port=80", ns=ns)
        if graceful:
            cluster.api().patch(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}", json={
                "spec": {"template": {"spec": {"terminationGracePeriodSeconds": 10,
                                               "containers": [{"name": "web", "lifecycle": {
                                                   "preStop": {"sleep": {"seconds": 3}}}}]}}}},
                headers={"Content-Type": "application/strategic-merge-patch+json"}
            ).raise_for_status()
        kubectl(cluster, "expose", "deployment", name, "--port=80", ns=ns)
    for name in names:
        kubectl(cluster, "rollout", "status", f"deploy/{name}", "--timeout=90s", ns=ns)


def ingress(cluster: Cluster, ns: str, name: str, spec: dict, annotations=None) -> None:
    r = cluster.api().post(f"{NETWORKING}/namespaces/{ns}/ingresses", json={
        "metadata": {"name": name, "annotations": annotations or {}}, "spec": spec})
    assert r.status_code == 201, r.text


def route(host: str | None, *paths: tuple[str, str, str]) -> dict:
    return {**({"host": host} if host else {}), "http": {"paths": [
        {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 80}}}}
        for p, t, s in paths]}}


def get(cluster: Cluster, url: str, host: str | None = None, *extra: str) -> tuple[int, str]:
    """(HTTP status, body) of a GET from the client machine; (0, error) when none came."""
    done = cluster.on_client(["curl", "-s", "-k", "--max-time", "5", "-o", "/dev/stdout",
                              "-w", "\n%{http_code}", *(["-H", f"Host: {host}"] if host else []),
                              *extra, url], check=False, timeout=20)
    body, _, code = done.stdout.rpartition("\n")
    return (int(code) if code.isdigit() else 0), body or done.stderr


def steadily(condition: Callable[[], object], seconds: float = 1.0) -> Callable[[], bool]:
    """`condition`, required to hold on every try for `seconds` (three tries at least). nginx
    moves to a new configuration gradually: its old workers keep taking connections for a
    moment after the new ones start (100 ms, more on a busy node), so one answer from the new
    configuration does not yet mean that every answer comes from it."""
    def held() -> bool:
        started, tries = time.monotonic(), 0
        while tries < 3 or time.monotonic() - started < seconds:
            if not condition():
                return False
            tries += 1
        return True
    return held


def served_by(cluster: Cluster, address: str, host: str, path: str = "/") -> str | None:
    code, body = get(cluster, f"http://{address}{path}", host)
    found = ANSWER.search(body) if code == 200 else None
    return found.group(1).rsplit("-", 2)[0] if found else None  # the Deployment's name


def test_hosts_paths_unknown_hosts_and_the_status_address(cluster: Cluster, ns: str,
                                                          controller: str) -> None:
    backends(cluster, ns, "alpha", "beta")
    kubectl(cluster, "create", "ingress", "routes", "--rule=a.example/*=alpha:80",
            ns=ns)  # a protobuf body
    # orch/web answers only "/": the paths are rewritten to it (ingress-nginx's rewrite-target
    # replaces the whole path), and a 200 with the pod's name says which backend answered
    ingress(cluster, ns, "paths", {"rules": [
        route("b.example", ("/beta", "Prefix", "beta"), ("/exact", "Exact", "alpha"))]},
        annotations={"nginx.ingress.kubernetes.io/rewrite-target": "/"})
    wait_until(steadily(lambda: served_by(cluster, controller, "a.example") == "alpha"), 60,
               "a.example to reach alpha")
    wait_until(steadily(lambda: served_by(cluster, controller, "b.example", "/beta") == "beta"),
               30, "b.example/beta to reach beta")
    assert served_by(cluster, controller, "b.example", "/beta/deeper") == "beta"
    assert get(cluster, f"http://{controller}/betamax", "b.example")[0] == 404  # element-wise
    assert served_by(cluster, controller, "b.example", "/exact") == "alpha"
    assert get(cluster, f"http://{controller}/exact/more", "b.example")[0] == 404
    assert get(cluster, f"http://{controller}/", "unknown.example")[0] == 404
    stored = cluster.api().get(f"{NETWORKING}/namespaces/{ns}/ingresses/routes").json()
    assert stored["spec"]["ingressClassName"] == "nginx"  # the default class, at creation
    wait_until(lambda: cluster.api().get(f"{NETWORKING}/namespaces/{ns}/ingresses/routes")
               .json().get("status", {}).get("loadBalancer", {}).get("ingress")
               == [{"ip": controller}], 30, "the Ingress's status address")
    assert controller in kubectl(cluster, "get", "ingress", "routes", ns=ns).stdout
    # a missing Service answers 503 and the Ingress says why; the rest keeps working
    ingress(cluster, ns, "broken", {"rules": [route("c.example", ("/", "Prefix", "nope"))]})
    wait_until(steadily(lambda: get(cluster, f"http://{controller}/", "c.example")[0] == 503),
               30,
               "c.example to answer 503")

    def told() -> bool:
        events = cluster.api().get(f"/api/v1/namespaces/{ns}/events").json()["items"]
        return any(e["involvedObject"]["name"] == "broken" and e["type"] == "Warning"
                   and f"service {ns}/nope not found" in e["message"] for e in events)
    wait_until(told, 30, "a Warning Event naming the missing service")
    assert served_by(cluster, controller, "a.example") == "alpha"


def test_tls_by_sni_and_http_redirected(cluster: Cluster, ns: str, controller: str,
                                        tmp_path: Path) -> None:
    backends(cluster, ns, "secure")
    key, cert = tmp_path / "tls.key", tmp_path / "tls.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=secure.example", "-addext", "subjectAltName=DNS:secure.example",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    kubectl(cluster, "create", "secret", "tls", "secure-tls", f"--cert={cert}", f"--key={key}",
            ns=ns)
    ingress(cluster, ns, "secure", {"tls": [{"hosts": ["secure.example"],
                                             "secretName": "secure-tls"}],
                                    "rules": [route("secure.example", ("/", "Prefix",
                                                                       "secure"))]})
    resolve = f"secure.example:443:{controller}"

    def https_answers() -> bool:
        code, body = get(cluster, "https://secure.example/", None, "--resolve", resolve)
        return code == 200 and bool(ANSWER.search(body))
    wait_until(steadily(https_answers), 60, "https://secure.example/ to answer")
    shown = cluster.on_client(["sh", "-c", f"echo | openssl s_client -connect {controller}:443 "
                               "-servername secure.example 2>/dev/null | openssl x509 -noout "
                               "-subject -fingerprint -sha256"]).stdout
    ours = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-fingerprint",
                           "-sha256"], capture_output=True, text=True, check=True).stdout
    assert "CN = secure.example" in shown and ours.strip() in shown
    code, _ = get(cluster, f"http://{controller}/path?q=1", "secure.example", "-D",
                  "/dev/stderr")
    assert code == 308
    redirect = cluster.on_client(["curl", "-s", "-o", "/dev/null", "-w", "%{redirect_url}",
                                  "-H", "Host: secure.example",
                                  f"http://{controller}/path?q=1"]).stdout
    assert redirect == "https://secure.example/path?q=1"
    # a name with no certificate gets no handshake
    refused = cluster.on_client(["sh", "-c", f"echo | openssl s_client -connect {controller}:443"
                                 " -servername other.example 2>&1"], check=False).stdout
    assert "BEGIN CERTIFICATE" not in refused
    # controllers that start while the TLS Ingress exists serve it from their first config
    kubectl(cluster, "rollout", "restart", "deploy/ingress-nginx-controller", ns="ingress-nginx")
    kubectl(cluster, "rollout", "status", "deploy/ingress-nginx-controller", "--timeout=120s",
            ns="ingress-nginx")
    wait_until(steadily(https_answers), 60, "https://secure.example/ to answer after a restart")


def controller_logs(cluster: Cluster, everything: bool = False) -> str:
    """Each controller replica's log (its reloads, and nginx's access log: which server block
    and which endpoint answered each request): what a failed request is explained by. Lines
    of requests answered 200 are left out unless `everything`."""
    out = []
    pods = cluster.api().get("/api/v1/namespaces/ingress-nginx/pods").json()["items"]
    for pod in pods:
        name = pod["metadata"]["name"]
        text = cluster.api().get(f"/api/v1/namespaces/ingress-nginx/pods/{name}/log",
                                 params={"tailLines": "3000"}).text
        lines = [line for line in text.splitlines()
                 if everything or '" 200 ' not in line]
        out.append(f"\n--- {name} on {pod['spec'].get('nodeName')}: "
                   "every line but the 200s ---\n" + "\n".join(lines[-300:]))
    return "".join(out)


PROBE = r"""
import http.client, signal, sys, time
address, host, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
ok = failed = 0
running = [True]
signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
while running[0]:
    started = time.monotonic()
    try:
        c = http.client.HTTPConnection(address, 80, timeout=5)
        c.request("GET", "/", headers={"Host": host})
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status == 200:
            ok += 1
        else:
            failed += 1
            print(time.strftime("%H:%M:%S"), "status", r.status, "server", r.getheader("Server"),
                  body[:120], flush=True)
    except Exception as e:
        failed += 1
        print(time.strftime("%H:%M:%S"), "error", e, flush=True)
    time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
print("ok", ok, "failed", failed, flush=True)
"""


def test_no_request_fails_while_ingresses_change_and_the_backend_rolls(
        cluster: Cluster, ns: str, controller: str) -> None:
    backends(cluster, ns, "steady", "other", graceful=True)
    ingress(cluster, ns, "steady", {"rules": [route("steady.example", ("/", "Prefix",
                                                                       "steady"))]})
    wait_until(steadily(lambda: served_by(cluster, controller, "steady.example") == "steady"),
               60, "steady.example to answer")
    client = cluster.inventory.client
    assert client is not None
    probe = subprocess.Popen(
        [*(["nsenter", f"--net=/run/netns/{client.netns}", "--"] if client.netns else []),
         sys.executable, "-c", PROBE, controller, "steady.example", "25"],
        stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        for i in range(4):  # Ingresses added, changed and removed beside it
            ingress(cluster, ns, f"churn-{i}", {"rules": [
                route(f"churn{i}.example", ("/", "Prefix", "other"))]})
            time.sleep(1)
        cluster.api().patch(f"{NETWORKING}/namespaces/{ns}/ingresses/churn-0", json={
            "spec": {"rules": [route("churn0.example", ("/v2", "Prefix", "other"))]}},
            headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
        kubectl(cluster, "rollout", "restart", "deploy/steady", ns=ns)
        kubectl(cluster, "rollout", "status", "deploy/steady", "--timeout=120s", ns=ns)
        for i in range(4):
            cluster.api().delete(f"{NETWORKING}/namespaces/{ns}/ingresses/churn-{i}"
                                 ).raise_for_status()
            time.sleep(1)
        kubectl(cluster, "rollout", "restart", "deploy/steady", ns=ns)
        kubectl(cluster, "rollout", "status", "deploy/steady", "--timeout=120s", ns=ns)
        time.sleep(2)
    finally:
        probe.terminate()
        out, _ = probe.communicate(timeout=30)
    summary = out.strip().splitlines()[-1]
    ok, failed = int(summary.split()[1]), int(summary.split()[3])
    assert failed == 0, out + controller_logs(cluster)
    assert ok >= 200, summary  # the loop ran through all of it (at up to 25 requests/s)
