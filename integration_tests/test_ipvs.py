"""The IPVS backend against a real kernel, a lab host's: in a scratch network namespace there,
the proxier programs the virtual servers (node ports on every local address), the dummy
interface and the iptables rules a state calls for (syncing from a thread other than the one
that built it, as the agent does), converges on a change, and cleans up. Skips, saying why,
where the kernel has no IP_VS (as on the machines the netns lab runs on; a Vagrant VM has it)."""

from __future__ import annotations

import secrets
import sys
import textwrap

import pytest

from integration_tests.hosts import Cluster

SCRIPT = textwrap.dedent("""
    import json, sys, threading
    from node_agent.proxy.ipvs import IpvsProxier, desired_ipvs
    from node_agent.proxy.model import ProxyState
    from node_agent.proxy.proxier import Iptables
    def svc(ip, ips):
        return ({"metadata": {"namespace": "t", "name": "web"},
                 "spec": {"type": "NodePort", "clusterIP": ip, "ports": [
                     {"name": "http", "port": 80, "nodePort": 30080}]}},
                {"metadata": {"namespace": "t", "name": "web"}, "subsets": [
                    {"ports": [{"name": "http", "port": 8080}],
                     "addresses": [{"ip": i} for i in ips]}]})
    proxier = IpvsProxier(Iptables(), "10.244.0.0/16", ["192.0.2.1"])
    out = {}
    def sync(state):  # in a thread of its own, as the agent's proxy loop does
        worker = threading.Thread(target=proxier.sync, args=(state, True))
        worker.start()
        worker.join()
    for step, ips in (("first", ["10.244.1.5", "10.244.2.5"]), ("changed", ["10.244.2.5"])):
        s, e = svc("10.96.0.20", ips)
        state = ProxyState.build([s], [e])
        sync(state)
        have = proxier.current(proxier.bound_addresses(proxier._dummy_index(False)))
        # node ports on the given address and on every local one (eth9's), not on loopback
        out[step] = have == desired_ipvs(state, ["192.0.2.1", "198.51.100.7"])
    out["cleaned"] = proxier.cleanup()
    out["after"] = len(proxier.current(set()))
    print(json.dumps(out))
""")


# Run as root on the host, with the scratch namespace's name and the host's python.
IN_SCRATCH_NETNS = textwrap.dedent("""
    set -e
    ip netns add "$1"
    trap 'ip netns del "$1"' EXIT
    for command in "link set lo up" "link add eth9 type dummy" \
                   "addr add 198.51.100.7/24 dev eth9" "link set eth9 up"; do
        ip -n "$1" $command
    done
    ip netns exec "$1" "$2" -c "$3"
""")
UNAVAILABLE = "from node_agent.proxy.ipvs import ipvs_unavailable; print(ipvs_unavailable() or '')"


@pytest.mark.smoke
def test_the_ipvs_backend_programs_a_real_kernel(cluster: Cluster) -> None:
    """On the lab's first host: its kernel (a VM's has IP_VS; a netns host's is this one's)."""
    host = cluster.hosts[0]
    python = host.python or sys.executable
    why = cluster.run(host, [python, "-c", UNAVAILABLE], timeout=60).stdout.strip()
    if why:
        pytest.skip(f"IPVS backend on {host.name}: {why}")
    netns = f"orchipvs{secrets.token_hex(3)}"
    done = cluster.run(host, ["sh", "-c", IN_SCRATCH_NETNS, "sh", netns, python, SCRIPT],
                       check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(
        '{"first": true, "changed": true, "cleaned": true, "after": 0}'), done.stdout
