"""The iptables backend's rulesets: exact text for a table of cases, and packets walked through
the rules as the kernel would (tests/iptables_sim.py), including partial syncs applied on top of
earlier ones."""

from __future__ import annotations

import random

import pytest

from node_agent.proxy.iptables import JUMPS, chains_in, cleanup_ruleset, render
from node_agent.proxy.model import ProxyState
from tests.iptables_sim import Kernel, Packet, destinations, route

CIDR = "10.244.0.0/16"
NODE = "192.168.56.11"
LOCAL = {NODE, "10.244.1.1", "127.0.0.1"}


def svc(name, ip, port=80, node_port=None, affinity=False, port_name="", lb_ip=None,
        policy=None):
    kind = "LoadBalancer" if lb_ip else "NodePort" if node_port else "ClusterIP"
    spec = {"type": kind, "clusterIP": ip,
            "ports": [{"name": port_name, "port": port, "protocol": "TCP",
                       **({"nodePort": node_port} if node_port else {})}]}
    if affinity:
        spec |= {"sessionAffinity": "ClientIP",
                 "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}}}
    if policy:
        spec["externalTrafficPolicy"] = policy
    status = {"loadBalancer": {"ingress": [{"ip": lb_ip, "ipMode": "VIP"}]}} if lb_ip else {}
    return {"metadata": {"namespace": "default", "name": name}, "spec": spec, "status": status}


def eps(name, *ips, port=8080, port_name="", not_ready=()):
    """Endpoints; the pod at 10.244.N.x is on hostN (host-gw: a node's pods have its subnet)."""
    subset = {"ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}
    if ips:
        subset["addresses"] = [{"ip": i, "nodeName": f"host{i.split('.')[2]}"} for i in ips]
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": i} for i in not_ready]
    return {"metadata": {"namespace": "default", "name": name},
            "subsets": [subset] if ips or not_ready else []}


def state(services, endpoints):
    return ProxyState.build(services, endpoints)


FIXED = set(render(ProxyState({}, {}), CIDR).text.splitlines())


def specific(text):
    """The lines a case adds to the ruleset of an empty cluster."""
    return [line for line in text.splitlines() if line not in FIXED]


def test_the_whole_ruleset_of_one_service_with_one_endpoint():
    text = render(state([svc("one", "10.96.0.11")], [eps("one", "10.244.1.5")]), CIDR).text
    assert text == """*filter
:ORCH-SERVICES - [0:0]
:ORCH-EXTERNAL-SERVICES - [0:0]
:ORCH-FORWARD - [0:0]
-A ORCH-FORWARD -m comment --comment "orch forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A ORCH-FORWARD -m comment --comment "orch forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:ORCH-SERVICES - [0:0]
:ORCH-NODEPORTS - [0:0]
:ORCH-POSTROUTING - [0:0]
:ORCH-MARK-MASQ - [0:0]
:ORCH-SVC-KGKFXTGL7ZJJQQVF - [0:0]
:ORCH-SEP-24L7LGGUCZ6V3TOP - [0:0]
-A ORCH-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A ORCH-POSTROUTING -j MARK --xor-mark 0x4000
-A ORCH-POSTROUTING -m comment --comment "orch service traffic requiring SNAT" -j MASQUERADE
-A ORCH-MARK-MASQ -j MARK --or-mark 0x4000
-A ORCH-SERVICES -m comment --comment "default/one cluster IP" -d 10.96.0.11/32 -p tcp -m tcp --dport 80 -j ORCH-SVC-KGKFXTGL7ZJJQQVF
-A ORCH-SERVICES -m comment --comment "node ports; must be the last rule" -m addrtype --dst-type LOCAL -j ORCH-NODEPORTS
-A ORCH-SVC-KGKFXTGL7ZJJQQVF -m comment --comment "default/one cluster IP" ! -s 10.244.0.0/16 -d 10.96.0.11/32 -p tcp -m tcp --dport 80 -j ORCH-MARK-MASQ
-A ORCH-SVC-KGKFXTGL7ZJJQQVF -m comment --comment "default/one -> 10.244.1.5:8080" -j ORCH-SEP-24L7LGGUCZ6V3TOP
-A ORCH-SEP-24L7LGGUCZ6V3TOP -m comment --comment "default/one" -s 10.244.1.5/32 -j ORCH-MARK-MASQ
-A ORCH-SEP-24L7LGGUCZ6V3TOP -m comment --comment "default/one" -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:8080
COMMIT
"""


CASES = {
    "no endpoints: REJECT in filter, no nat chains": (
     [svc("none", "10.96.0.10", node_port=30010)], [eps("none", not_ready=["10.244.1.9"])], [
        '-A ORCH-SERVICES -m comment --comment "default/none has no endpoints" -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable',
        '-A ORCH-EXTERNAL-SERVICES -m comment --comment "default/none has no endpoints" -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30010 -j REJECT --reject-with icmp-port-unreachable',
    ]),
    "many endpoints: 1/(n-i)": (
     [svc("many", "10.96.0.12", port_name="http")],
     [eps("many", "10.244.1.5", "10.244.2.5", "10.244.3.5", port_name="http")], [
        ':ORCH-SVC-VDVRRZ2TCSYBE4RU - [0:0]',
        ':ORCH-SEP-ACGJE3NWRKREYUVE - [0:0]',
        ':ORCH-SEP-SQJY6QISVNZWL3KK - [0:0]',
        ':ORCH-SEP-LKKJZCNYIY62XKZQ - [0:0]',
        '-A ORCH-SERVICES -m comment --comment "default/many:http cluster IP" -d 10.96.0.12/32 -p tcp -m tcp --dport 80 -j ORCH-SVC-VDVRRZ2TCSYBE4RU',
        '-A ORCH-SVC-VDVRRZ2TCSYBE4RU -m comment --comment "default/many:http cluster IP" ! -s 10.244.0.0/16 -d 10.96.0.12/32 -p tcp -m tcp --dport 80 -j ORCH-MARK-MASQ',
        '-A ORCH-SVC-VDVRRZ2TCSYBE4RU -m comment --comment "default/many:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.3333333333 -j ORCH-SEP-ACGJE3NWRKREYUVE',
        '-A ORCH-SVC-VDVRRZ2TCSYBE4RU -m comment --comment "default/many:http -> 10.244.2.5:8080" -m statistic --mode random --probability 0.5000000000 -j ORCH-SEP-SQJY6QISVNZWL3KK',
        '-A ORCH-SVC-VDVRRZ2TCSYBE4RU -m comment --comment "default/many:http -> 10.244.3.5:8080" -j ORCH-SEP-LKKJZCNYIY62XKZQ',
        '-A ORCH-SEP-ACGJE3NWRKREYUVE -m comment --comment "default/many:http" -s 10.244.1.5/32 -j ORCH-MARK-MASQ',
        '-A ORCH-SEP-ACGJE3NWRKREYUVE -m comment --comment "default/many:http" -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:8080',
        '-A ORCH-SEP-SQJY6QISVNZWL3KK -m comment --comment "default/many:http" -s 10.244.2.5/32 -j ORCH-MARK-MASQ',
        '-A ORCH-SEP-SQJY6QISVNZWL3KK -m comment --comment "default/many:http" -p tcp -m tcp -j DNAT --to-destination 10.244.2.5:8080',
        '-A ORCH-SEP-LKKJZCNYIY62XKZQ -m comment --comment "default/many:http" -s 10.244.3.5/32 -j ORCH-MARK-MASQ',
        '-A ORCH-SEP-LKKJZCNYIY62XKZQ -m comment --comment "default/many:http" -p tcp -m tcp -j DNAT --to-destination 10.244.3.5:8080',
    ]),
    "node port: the external chain marks, then the service chain": (
     [svc("np", "10.96.0.13", node_port=30080)], [eps("np", "10.244.2.7")], [
        ':ORCH-SVC-RDYLKLLOFEUNVJO7 - [0:0]',
        ':ORCH-EXT-RDYLKLLOFEUNVJO7 - [0:0]',
        ':ORCH-SEP-KYRTWI4CCM6BRC7I - [0:0]',
        '-A ORCH-SERVICES -m comment --comment "default/np cluster IP" -d 10.96.0.13/32 -p tcp -m tcp --dport 80 -j ORCH-SVC-RDYLKLLOFEUNVJO7',
        '-A ORCH-NODEPORTS -m comment --comment "default/np" -p tcp -m tcp --dport 30080 -j ORCH-EXT-RDYLKLLOFEUNVJO7',
        '-A ORCH-SVC-RDYLKLLOFEUNVJO7 -m comment --comment "default/np cluster IP" ! -s 10.244.0.0/16 -d 10.96.0.13/32 -p tcp -m tcp --dport 80 -j ORCH-MARK-MASQ',
        '-A ORCH-SVC-RDYLKLLOFEUNVJO7 -m comment --comment "default/np -> 10.244.2.7:8080" -j ORCH-SEP-KYRTWI4CCM6BRC7I',
        '-A ORCH-EXT-RDYLKLLOFEUNVJO7 -m comment --comment "masquerade traffic for default/np external destinations" -j ORCH-MARK-MASQ',
        '-A ORCH-EXT-RDYLKLLOFEUNVJO7 -j ORCH-SVC-RDYLKLLOFEUNVJO7',
        '-A ORCH-SEP-KYRTWI4CCM6BRC7I -m comment --comment "default/np" -s 10.244.2.7/32 -j ORCH-MARK-MASQ',
        '-A ORCH-SEP-KYRTWI4CCM6BRC7I -m comment --comment "default/np" -p tcp -m tcp -j DNAT --to-destination 10.244.2.7:8080',
    ]),
    "ClientIP affinity: recent lists": (
     [svc("sticky", "10.96.0.14", affinity=True)], [eps("sticky", "10.244.1.8", "10.244.2.8")], [
        ':ORCH-SVC-EJSNIZOXQ6PSNL43 - [0:0]',
        ':ORCH-SEP-TPRYKNULGUL6PAML - [0:0]',
        ':ORCH-SEP-7CQX3F6UNIUVYPT7 - [0:0]',
        '-A ORCH-SERVICES -m comment --comment "default/sticky cluster IP" -d 10.96.0.14/32 -p tcp -m tcp --dport 80 -j ORCH-SVC-EJSNIZOXQ6PSNL43',
        '-A ORCH-SVC-EJSNIZOXQ6PSNL43 -m comment --comment "default/sticky cluster IP" ! -s 10.244.0.0/16 -d 10.96.0.14/32 -p tcp -m tcp --dport 80 -j ORCH-MARK-MASQ',
        '-A ORCH-SVC-EJSNIZOXQ6PSNL43 -m comment --comment "default/sticky" -m recent --name ORCH-SEP-TPRYKNULGUL6PAML --rcheck --seconds 600 --reap --mask 255.255.255.255 --rsource -j ORCH-SEP-TPRYKNULGUL6PAML',
        '-A ORCH-SVC-EJSNIZOXQ6PSNL43 -m comment --comment "default/sticky" -m recent --name ORCH-SEP-7CQX3F6UNIUVYPT7 --rcheck --seconds 600 --reap --mask 255.255.255.255 --rsource -j ORCH-SEP-7CQX3F6UNIUVYPT7',
        '-A ORCH-SVC-EJSNIZOXQ6PSNL43 -m comment --comment "default/sticky -> 10.244.1.8:8080" -m statistic --mode random --probability 0.5000000000 -j ORCH-SEP-TPRYKNULGUL6PAML',
        '-A ORCH-SVC-EJSNIZOXQ6PSNL43 -m comment --comment "default/sticky -> 10.244.2.8:8080" -j ORCH-SEP-7CQX3F6UNIUVYPT7',
        '-A ORCH-SEP-TPRYKNULGUL6PAML -m comment --comment "default/sticky" -s 10.244.1.8/32 -j ORCH-MARK-MASQ',
        '-A ORCH-SEP-TPRYKNULGUL6PAML -m comment --comment "default/sticky" -p tcp -m recent --set --name ORCH-SEP-TPRYKNULGUL6PAML --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.8:8080',
        '-A ORCH-SEP-7CQX3F6UNIUVYPT7 -m comment --comment "default/sticky" -s 10.244.2.8/32 -j ORCH-MARK-MASQ',
        '-A ORCH-SEP-7CQX3F6UNIUVYPT7 -m comment --comment "default/sticky" -p tcp -m recent --set --name ORCH-SEP-7CQX3F6UNIUVYPT7 --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.2.8:8080',
    ]),
}


@pytest.mark.parametrize("case", CASES)
def test_rules_of_each_case(case):
    services, endpoints, expected = CASES[case]
    assert specific(render(state(services, endpoints), CIDR).text) == expected


# --- packets walked through the rules ---


def kernel_with(services, endpoints) -> Kernel:
    kernel = Kernel()
    kernel.restore(render(state(services, endpoints), CIDR).text)
    for table, chain, rule in JUMPS:
        kernel.insert(table, chain, rule)
    return kernel


THREE = ([svc("web", "10.96.0.20", node_port=30080)],
         [eps("web", "10.244.1.5", "10.244.2.5", "10.244.3.5")])


def test_pod_to_cluster_ip_reaches_each_endpoint_equally_keeping_the_pod_address():
    got = destinations(route(kernel_with(*THREE), Packet("10.244.1.3", "10.96.0.20", 80),
                             LOCAL, from_host=False))
    assert got == {("ACCEPT", "10.244.1.5:8080", False): pytest.approx(1 / 3),
                   ("ACCEPT", "10.244.2.5:8080", False): pytest.approx(1 / 3),
                   ("ACCEPT", "10.244.3.5:8080", False): pytest.approx(1 / 3)}


def test_probabilities_are_uniform_for_any_number_of_endpoints():
    for n in range(1, 12):
        ips = [f"10.244.{i}.9" for i in range(1, n + 1)]
        got = destinations(route(kernel_with([svc("s", "10.96.0.30")], [eps("s", *ips)]),
                                 Packet("10.244.1.3", "10.96.0.30", 80), LOCAL, False))
        assert len(got) == n
        assert all(abs(p - 1 / n) < 1e-6 for p in got.values()), (n, got)


def test_the_host_itself_calling_a_cluster_ip_is_masqueraded():
    got = destinations(route(kernel_with(*THREE), Packet(NODE, "10.96.0.20", 80), LOCAL, True))
    assert set(got) == {("ACCEPT", f"10.244.{i}.5:8080", True) for i in (1, 2, 3)}


def test_node_port_from_another_host_reaches_the_endpoints_masqueraded():
    got = destinations(route(kernel_with(*THREE), Packet("192.168.56.12", NODE, 30080),
                             LOCAL, False))
    assert set(got) == {("ACCEPT", f"10.244.{i}.5:8080", True) for i in (1, 2, 3)}
    assert sum(got.values()) == pytest.approx(1, abs=1e-5)


def test_a_node_port_on_an_address_that_is_not_the_node_is_left_alone():
    got = destinations(route(kernel_with(*THREE), Packet("192.168.56.12", "192.168.56.99",
                                                         30080), LOCAL, False))
    assert got == {("ACCEPT", "192.168.56.99:30080", False): 1.0}


def test_hairpin_an_endpoint_calling_its_own_service_is_masqueraded():
    kernel = kernel_with([svc("solo", "10.96.0.40")], [eps("solo", "10.244.1.5")])
    got = destinations(route(kernel, Packet("10.244.1.5", "10.96.0.40", 80), LOCAL, False))
    assert got == {("ACCEPT", "10.244.1.5:8080", True): 1.0}


def test_no_ready_endpoint_rejects_at_once_cluster_ip_and_node_port():
    kernel = kernel_with([svc("none", "10.96.0.10", node_port=30010)],
                         [eps("none", not_ready=["10.244.1.9"])])
    assert destinations(route(kernel, Packet("10.244.1.3", "10.96.0.10", 80), LOCAL, False)) \
        == {("REJECT", "10.96.0.10:80", False): 1.0}
    assert destinations(route(kernel, Packet(NODE, "10.96.0.10", 80), LOCAL, True)) \
        == {("REJECT", "10.96.0.10:80", False): 1.0}
    assert destinations(route(kernel, Packet("192.168.56.12", NODE, 30010), LOCAL, False)) \
        == {("REJECT", f"{NODE}:30010", False): 1.0}


def test_other_ports_and_addresses_pass_untouched():
    kernel = kernel_with(*THREE)
    assert destinations(route(kernel, Packet("10.244.1.3", "10.96.0.20", 81), LOCAL, False)) \
        == {("ACCEPT", "10.96.0.20:81", False): 1.0}
    assert destinations(route(kernel, Packet("10.244.1.3", "10.244.2.5", 8080), LOCAL, False)) \
        == {("ACCEPT", "10.244.2.5:8080", False): 1.0}


def test_client_ip_affinity_sends_a_known_client_back_to_its_endpoint():
    kernel = kernel_with([svc("sticky", "10.96.0.14", affinity=True)],
                         [eps("sticky", "10.244.1.8", "10.244.2.8")])
    first = route(kernel, Packet("10.244.3.3", "10.96.0.14", 80), LOCAL, False)
    assert {o.packet.dst for o in first} == {"10.244.1.8", "10.244.2.8"}
    for outcome in first:  # the chosen endpoint's list now holds the client
        again = route(kernel, Packet("10.244.3.3", "10.96.0.14", 80,
                                     recent=frozenset(outcome.sets_recent)), LOCAL, False)
        assert destinations(again) == {("ACCEPT", f"{outcome.packet.dst}:8080", False): 1.0}


def test_udp_and_tcp_ports_of_one_service_are_separate():
    dns = {"metadata": {"namespace": "kube-system", "name": "dns"},
           "spec": {"clusterIP": "10.96.0.53", "ports": [
               {"name": "dns", "port": 53, "protocol": "UDP"},
               {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}}
    ep = {"metadata": {"namespace": "kube-system", "name": "dns"}, "subsets": [
        {"ports": [{"name": "dns", "port": 5353, "protocol": "UDP"},
                   {"name": "dns-tcp", "port": 5354, "protocol": "TCP"}],
         "addresses": [{"ip": "10.244.2.2"}]}]}
    kernel = kernel_with([dns], [ep])
    assert destinations(route(kernel, Packet("10.244.1.3", "10.96.0.53", 53, "udp"), LOCAL,
                              False)) == {("ACCEPT", "10.244.2.2:5353", False): 1.0}
    assert destinations(route(kernel, Packet("10.244.1.3", "10.96.0.53", 53, "tcp"), LOCAL,
                              False)) == {("ACCEPT", "10.244.2.2:5354", False): 1.0}


# --- partial syncs ---


def test_a_removed_service_loses_its_chains_in_the_same_transaction():
    before = state(*THREE)
    first = render(before, CIDR)
    after = state([], [])
    partial = render(after, CIDR, previous=first.blocks)
    web = first.blocks[next(iter(first.blocks))]
    assert partial.deleted == tuple(sorted(web.chains))
    lines = partial.text.splitlines()
    for chain in web.chains:
        assert f":{chain} - [0:0]" in lines and f"-X {chain}" in lines
    assert not any("-A ORCH-S" in line and "ORCH-SVC" in line for line in lines)
    kernel = kernel_with(*THREE)
    kernel.restore(partial.text)
    assert not any(c.startswith(("ORCH-SVC-", "ORCH-SEP-")) for c in kernel.tables["nat"])
    assert destinations(route(kernel, Packet("10.244.1.3", "10.96.0.20", 80), LOCAL, False)) \
        == {("ACCEPT", "10.96.0.20:80", False): 1.0}


def test_one_endpoint_changed_rewrites_only_that_service():
    services = [svc(f"s{i}", f"10.96.1.{i}") for i in range(1, 6)]
    endpoints = [eps(f"s{i}", f"10.244.1.{i}", f"10.244.2.{i}") for i in range(1, 6)]
    first = render(state(services, endpoints), CIDR)
    endpoints[2] = eps("s3", "10.244.1.3", "10.244.3.3")
    partial = render(state(services, endpoints), CIDR, previous=first.blocks)
    assert partial.written == 1
    written = {line.split()[1] for line in partial.text.splitlines()
               if line.startswith("-A ORCH-S") and line.split()[1].startswith("ORCH-SVC-")}
    assert len(written) == 1
    assert len(partial.deleted) == 1  # the SEP chain of 10.244.2.3
    nothing = render(state(services, endpoints), CIDR, previous=partial.blocks)
    assert nothing.written == 0 and nothing.deleted == ()


def random_state(rng: random.Random):
    services, endpoints = [], []
    for i in range(rng.randint(0, 8)):
        name = f"svc{rng.randint(0, 10)}"
        if any(s["metadata"]["name"] == name for s in services):
            continue
        services.append(svc(name, f"10.96.2.{i + 1}", node_port=30100 + i if rng.random() < .3
                            else None, affinity=rng.random() < .2))
        ips = [f"10.244.{rng.randint(1, 3)}.{rng.randint(2, 9)}" for _ in range(rng.randint(0, 4))]
        endpoints.append(eps(name, *ips))
    return state(services, endpoints)


def test_any_sequence_of_partial_syncs_leaves_the_kernel_as_a_full_sync_would():
    rng = random.Random(7)
    for _ in range(40):
        kernel, previous = Kernel(), None
        for step in range(6):
            now = random_state(rng)
            ruleset = render(now, CIDR, previous=previous,
                             existing=chains_in(_save(kernel), "nat") if previous is None else ())
            kernel.restore(ruleset.text)
            previous = ruleset.blocks
            fresh = Kernel()
            fresh.restore(render(now, CIDR).text)
            assert kernel.ours() == fresh.ours(), step


def _save(kernel: Kernel) -> str:
    lines = []
    for table, chains in kernel.tables.items():
        lines += [f"*{table}", *(f":{c} - [0:0]" for c in chains), "COMMIT"]
    return "\n".join(lines)


def test_a_full_sync_deletes_stale_chains_left_by_an_earlier_process():
    kernel = kernel_with(*THREE)
    now = state([svc("other", "10.96.0.50")], [eps("other", "10.244.2.2")])
    kernel.restore(render(now, CIDR, existing=chains_in(_save(kernel), "nat")).text)
    fresh = Kernel()
    fresh.restore(render(now, CIDR).text)
    assert kernel.ours() == fresh.ours()


# --- parsing iptables-save, cleaning up ---

SAVED = """# Generated by iptables-save v1.8.9 (nf_tables)
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:ORCH-FORWARD - [0:0]
:ORCH-SERVICES - [0:0]
-A FORWARD -m comment --comment "orch forwarding rules" -j ORCH-FORWARD
-A FORWARD -o docker0 -j DOCKER
-A ORCH-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
:ORCH-POD-MASQ - [0:0]
:ORCH-SERVICES - [0:0]
:ORCH-SVC-AAAA - [0:0]
-A PREROUTING -m comment --comment "orch service portals" -j ORCH-SERVICES
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 10.244.1.0/24 -m comment --comment "orch: masquerade" -j ORCH-POD-MASQ
-A ORCH-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j ORCH-SVC-AAAA
COMMIT
"""


def test_chains_in_lists_a_tables_chains():
    assert chains_in(SAVED, "nat") == {"PREROUTING", "POSTROUTING", "DOCKER", "ORCH-POD-MASQ",
                                       "ORCH-SERVICES", "ORCH-SVC-AAAA"}


def test_cleanup_removes_our_jumps_and_chains_and_nothing_else():
    text = cleanup_ruleset(SAVED)
    assert "-D FORWARD -m comment --comment \"orch forwarding rules\" -j ORCH-FORWARD" in text
    assert "-D POSTROUTING -s 10.244.1.0/24" in text
    assert "DOCKER" not in text
    for chain in ("ORCH-FORWARD", "ORCH-SERVICES", "ORCH-POD-MASQ", "ORCH-SVC-AAAA"):
        assert f"-X {chain}" in text
    # our rules inside our own chains are not deleted one by one: the chains are flushed
    assert "-D ORCH-SERVICES" not in text


def test_cleanup_of_a_clean_host_is_empty():
    assert cleanup_ruleset("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n") == ""


CLIENT = "192.168.56.1"  # a machine of the LAN, not a node
LB = "192.168.56.200"


def lb_kernel(policy, *ips, node="host1"):
    kernel = Kernel()
    state = ProxyState.build([svc("lb", "10.96.0.50", node_port=30050, lb_ip=LB,
                                  policy=policy)], [eps("lb", *ips)], node)
    kernel.restore(render(state, CIDR).text)
    for table, chain, rule in JUMPS:
        kernel.insert(table, chain, rule)
    return kernel


def test_a_load_balancer_ip_with_policy_cluster_reaches_every_endpoint_masqueraded():
    kernel = lb_kernel("Cluster", "10.244.1.5", "10.244.2.5")
    got = destinations(route(kernel, Packet(CLIENT, LB, 80), LOCAL, False))
    assert got == {("ACCEPT", "10.244.1.5:8080", True): 0.5,
                   ("ACCEPT", "10.244.2.5:8080", True): 0.5}
    assert destinations(route(kernel, Packet(CLIENT, LB, 81), LOCAL, False)) == \
        {("ACCEPT", f"{LB}:81", False): 1.0}  # another port: not ours


def test_policy_local_sends_outside_traffic_to_this_nodes_endpoints_keeping_the_client():
    kernel = lb_kernel("Local", "10.244.1.5", "10.244.2.5")
    for dst, port in ((LB, 80), (NODE, 30050)):
        assert destinations(route(kernel, Packet(CLIENT, dst, port), LOCAL, False)) == \
            {("ACCEPT", "10.244.1.5:8080", False): 1.0}
    # pods and the node itself still reach every endpoint (kube-proxy's short-circuit)
    from_pod = destinations(route(kernel, Packet("10.244.1.3", LB, 80), LOCAL, False))
    assert set(from_pod) == {("ACCEPT", "10.244.1.5:8080", False),
                             ("ACCEPT", "10.244.2.5:8080", False)}
    from_node = destinations(route(kernel, Packet(NODE, LB, 80), LOCAL, True))
    assert set(from_node) == {("ACCEPT", "10.244.1.5:8080", True),
                              ("ACCEPT", "10.244.2.5:8080", True)}


def test_policy_local_without_an_endpoint_here_drops_outside_traffic_to_the_address():
    kernel = lb_kernel("Local", "10.244.2.5")  # on host2 only
    assert destinations(route(kernel, Packet(CLIENT, LB, 80), LOCAL, False)) == \
        {("DROP", f"{LB}:80", False): 1.0}
    assert set(destinations(route(kernel, Packet("10.244.1.3", LB, 80), LOCAL, False))) == \
        {("ACCEPT", "10.244.2.5:8080", False)}


def test_a_load_balancer_ip_without_endpoints_rejects():
    kernel = lb_kernel("Cluster")
    assert destinations(route(kernel, Packet(CLIENT, LB, 80), LOCAL, False)) == \
        {("REJECT", f"{LB}:80", False): 1.0}
