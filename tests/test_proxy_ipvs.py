"""The IPVS backend: the virtual servers a state wants, the plan as a pure diff, the iptables
rules IPVS mode still needs, and the proxier driving an object of pyroute2's IPVS/IPRoute shape
(the kernel here has no IP_VS; the integration tests of IPVS skip with that reason)."""

from __future__ import annotations

import socket

from node_agent.proxy.ipvs import (DUMMY_INTERFACE, IpvsPlan, IpvsProxier, RealServer,
                                   VirtualServer, desired_ipvs, ipvs_ruleset, plan_ipvs)
from node_agent.proxy.model import ProxyState
from tests.iptables_sim import Kernel, Packet, destinations, route
from tests.test_proxy_iptables import CIDR, LOCAL, NODE, eps, svc

WEB = ProxyState.build([svc("web", "10.96.0.20", node_port=30080, affinity=True)],
                       [eps("web", "10.244.1.5", "10.244.2.5")])
R1, R2 = RealServer("10.244.1.5", 8080), RealServer("10.244.2.5", 8080)


def test_desired_table_has_the_cluster_ip_and_each_node_address():
    table = desired_ipvs(WEB, [NODE])
    assert table == {VirtualServer("10.96.0.20", 80, "TCP", "rr", 600): frozenset({R1, R2}),
                     VirtualServer(NODE, 30080, "TCP", "rr", 600): frozenset({R1, R2})}


def test_plan_from_nothing_adds_everything_and_binds_the_cluster_ip():
    plan = plan_ipvs(desired_ipvs(WEB, [NODE]), {}, {"10.96.0.20"}, set())
    assert [v.address for v in plan.add_services] == ["10.96.0.20", NODE]
    assert sorted(r for _, r in plan.add_dests) == [R1, R1, R2, R2]
    assert plan.add_addresses == ["10.96.0.20"]
    assert not plan.delete_services and not plan.delete_dests and not plan.update_services


def test_plan_when_in_sync_is_empty():
    table = desired_ipvs(WEB, [NODE])
    assert plan_ipvs(table, table, {"10.96.0.20"}, {"10.96.0.20"}).empty()


def test_plan_replaces_a_changed_endpoint_and_updates_persistence():
    vs = VirtualServer("10.96.0.20", 80, "TCP", "rr", 0)
    current = {vs: frozenset({R1, RealServer("10.244.3.5", 8080)})}
    desired = {VirtualServer("10.96.0.20", 80, "TCP", "rr", 600): frozenset({R1, R2})}
    plan = plan_ipvs(desired, current, {"10.96.0.20"}, {"10.96.0.20"})
    assert plan.update_services == [VirtualServer("10.96.0.20", 80, "TCP", "rr", 600)]
    assert [r for _, r in plan.add_dests] == [R2]
    assert [r for _, r in plan.delete_dests] == [RealServer("10.244.3.5", 8080)]


def test_plan_deletes_a_removed_service_and_unbinds_its_address():
    vs = VirtualServer("10.96.0.99", 80, "TCP")
    plan = plan_ipvs({}, {vs: frozenset({R1})}, set(), {"10.96.0.99"})
    assert plan.delete_services == [vs] and plan.delete_dests == []
    assert plan.delete_addresses == ["10.96.0.99"]


def test_ipvs_mode_rules_masquerade_outsiders_and_node_ports_and_reject_without_endpoints():
    services = [svc("web", "10.96.0.20", node_port=30080), svc("none", "10.96.0.10")]
    kernel = Kernel()
    kernel.restore(ipvs_ruleset(ProxyState.build(services, [eps("web", "10.244.1.5")]), CIDR))
    from node_agent.proxy.iptables import JUMPS
    for table, chain, rule in JUMPS:
        kernel.insert(table, chain, rule)
    local = LOCAL | {"10.96.0.20", "10.96.0.10"}  # cluster IPs sit on the dummy interface
    # IPVS does the DNAT itself, after these rules: only the marks are checked here
    assert destinations(route(kernel, Packet(NODE, "10.96.0.20", 80), local, True)) == {
        ("ACCEPT", "10.96.0.20:80", True): 1.0}
    assert destinations(route(kernel, Packet("10.244.2.3", "10.96.0.20", 80), local, False)) \
        == {("ACCEPT", "10.96.0.20:80", False): 1.0}
    assert destinations(route(kernel, Packet("192.168.56.12", NODE, 30080), local, False)) == {
        ("ACCEPT", f"{NODE}:30080", True): 1.0}
    assert destinations(route(kernel, Packet("10.244.2.3", "10.96.0.10", 80), local, False)) \
        == {("REJECT", "10.96.0.10:80", False): 1.0}


# --- the proxier against objects of pyroute2's shape ---


class FakeIpvs:
    """pyroute2.IPVS's calls: service(cmd, service=IPVSService), dest(cmd, service, dest);
    dumps return netlink-message-like objects (msg.get(nla)["attrs"])."""

    class Msg(dict):
        pass

    def __init__(self):
        self.services, self.calls = {}, []

    def service(self, cmd, service=None):
        if cmd == "dump":
            out = []
            for (addr, port, proto), (sched, timeout, flags, _) in self.services.items():
                m = self.Msg()
                m["IPVS_CMD_ATTR_SERVICE"] = {"attrs": [
                    ("IPVS_SVC_ATTR_AF", socket.AF_INET), ("IPVS_SVC_ATTR_PROTOCOL", proto),
                    ("IPVS_SVC_ATTR_ADDR", addr), ("IPVS_SVC_ATTR_PORT", port),
                    ("IPVS_SVC_ATTR_SCHED_NAME", sched), ("IPVS_SVC_ATTR_TIMEOUT", timeout),
                    ("IPVS_SVC_ATTR_FLAGS", {"flags": flags, "mask": 0xFFFF})]}
                out.append(m)
            return out
        key = (service["addr"], service["port"], service["protocol"])
        self.calls.append(("service", cmd, key))
        if cmd == "add":
            assert key not in self.services
            self.services[key] = (service["sched_name"], service["timeout"],
                                  service["flags"]["flags"], set())
        elif cmd == "set":
            old = self.services[key]
            self.services[key] = (service["sched_name"], service["timeout"],
                                  service["flags"]["flags"], old[3])
        elif cmd == "del":
            del self.services[key]

    def dest(self, cmd, service, dest=None):
        key = (service["addr"], service["port"], service["protocol"])
        reals = self.services[key][3]
        if cmd == "dump":
            out = []
            for addr, port in reals:
                m = self.Msg()
                m["IPVS_CMD_ATTR_DEST"] = {"attrs": [("IPVS_DEST_ATTR_ADDR", addr),
                                                     ("IPVS_DEST_ATTR_PORT", port)]}
                out.append(m)
            return out
        self.calls.append(("dest", cmd, key, (dest["addr"], dest["port"])))
        if cmd == "add":
            assert dest["fwd_method"] == 0  # masquerade (NAT)
            reals.add((dest["addr"], dest["port"]))
        elif cmd == "del":
            reals.remove((dest["addr"], dest["port"]))


class FakeAddr(dict):
    def get_attr(self, name):
        return self[name]


class FakeIpr:
    def __init__(self):
        self.links, self.addrs = {}, {}

    def link_lookup(self, ifname):
        return [i for i, n in self.links.items() if n == ifname]

    def link(self, cmd, ifname=None, kind=None, index=None):
        if cmd == "add":
            assert kind == "dummy"
            self.links[len(self.links) + 1] = ifname
            self.addrs[len(self.links)] = set()
        elif cmd == "del":
            del self.links[index]

    def get_addr(self, family, index=None):
        return [FakeAddr(IFA_ADDRESS=a, index=i) for i, addrs in self.addrs.items()
                for a in addrs if index in (None, i)]

    def addr(self, cmd, index, address, prefixlen):
        assert prefixlen == 32
        (self.addrs[index].add if cmd == "add" else self.addrs[index].remove)(address)


class FakeIptables:
    def __init__(self):
        self.kernel = Kernel()

    def restore(self, text):
        self.kernel.restore(text)

    def save(self, table=None):
        lines = []
        for t, chains in self.kernel.tables.items():
            lines += [f"*{t}", *(f":{c} - [0:0]" for c in chains)]
            lines += [f"-A {c} " + " ".join(f'"{x}"' if " " in x else x for x in r)
                      for c, rules in chains.items() for r in rules]
            lines.append("COMMIT")
        return "\n".join(lines) + "\n"

    def ensure_rule(self, table, chain, rule):
        if list(rule) not in self.kernel.tables[table][chain]:
            self.kernel.insert(table, chain, rule)


def test_proxier_converges_the_table_and_cleans_up_only_its_own():
    ipvs, ipr, iptables = FakeIpvs(), FakeIpr(), FakeIptables()
    ipvs.services[("10.0.0.1", 22, socket.IPPROTO_TCP)] = ("wlc", 0, 0, set())  # not ours
    proxier = IpvsProxier(iptables, CIDR, [NODE], ipvs=ipvs, ipr=ipr)
    proxier.sync(WEB, full=True)
    assert ipr.link_lookup(DUMMY_INTERFACE)
    index = ipr.link_lookup(DUMMY_INTERFACE)[0]
    assert ipr.addrs[index] == {"10.96.0.20"}
    assert ipvs.services[("10.96.0.20", 80, socket.IPPROTO_TCP)] == (
        "rr", 600, 1, {("10.244.1.5", 8080), ("10.244.2.5", 8080)})
    assert (NODE, 30080, socket.IPPROTO_TCP) in ipvs.services
    ipvs.calls.clear()
    proxier.sync(WEB)
    assert ipvs.calls == []  # in sync: nothing is touched
    fewer = ProxyState.build([svc("web", "10.96.0.20", node_port=30080, affinity=True)],
                             [eps("web", "10.244.2.5")])
    proxier.sync(fewer)
    assert sorted(c[:2] for c in ipvs.calls) == [("dest", "del"), ("dest", "del")]
    proxier.sync(ProxyState({}, {}))
    assert set(ipvs.services) == {("10.0.0.1", 22, socket.IPPROTO_TCP)}
    assert ipr.addrs[index] == set()
    proxier.sync(WEB)
    assert proxier.cleanup()
    assert set(ipvs.services) == {("10.0.0.1", 22, socket.IPPROTO_TCP)}
    assert not ipr.link_lookup(DUMMY_INTERFACE)
    assert not any(c.startswith("ORCH-") for t in iptables.kernel.tables.values() for c in t)


def test_an_empty_plan_is_empty():
    assert IpvsPlan().empty()


def test_node_ports_listen_on_every_local_address_but_loopback_and_follow_them():
    ipvs, ipr, iptables = FakeIpvs(), FakeIpr(), FakeIptables()
    ipr.links.update({90: "lo", 91: "eth1"})
    ipr.addrs.update({90: {"127.0.0.1"}, 91: {"192.168.121.5"}})
    proxier = IpvsProxier(iptables, CIDR, [NODE], ipvs=ipvs, ipr=ipr)
    proxier.sync(WEB, full=True)
    node_ports = {a for a, port, _ in ipvs.services if port == 30080}
    assert node_ports == {NODE, "192.168.121.5"}  # not 127.0.0.1, not the cluster IP
    ipr.addrs[91] = {"192.168.121.9"}  # the interface's address changed
    proxier.sync(WEB)
    assert {a for a, port, _ in ipvs.services if port == 30080} == {NODE, "192.168.121.9"}
    assert proxier.cleanup() and not ipvs.services


def test_load_balancer_ips_are_virtual_servers_bound_locally_and_local_keeps_the_client():
    from node_agent.proxy.ipvs import bound_ips
    lb = "192.168.56.200"
    state = ProxyState.build([svc("lb", "10.96.0.50", node_port=30050, lb_ip=lb, policy="Local")],
                             [eps("lb", "10.244.1.5", "10.244.2.5")], "host1")
    table = desired_ipvs(state, [NODE])
    assert table[VirtualServer("10.96.0.50", 80, "TCP")] == frozenset({R1, R2})
    assert table[VirtualServer(lb, 80, "TCP")] == frozenset({R1})  # this node's endpoint only
    assert table[VirtualServer(NODE, 30050, "TCP")] == frozenset({R1})
    assert bound_ips(state) == {"10.96.0.50", lb}
    rules = ipvs_ruleset(state, CIDR)
    assert f"! -s {CIDR} -m addrtype --src-type LOCAL -d {lb}/32" in rules  # only the node's own
    cluster = ProxyState.build([svc("lb", "10.96.0.50", lb_ip=lb)], [eps("lb", "10.244.2.5")])
    assert desired_ipvs(cluster, [NODE])[VirtualServer(lb, 80, "TCP")] == frozenset({R2})
    assert f"! -s {CIDR} -d {lb}/32 -p tcp -m tcp --dport 80 -j ORCH-MARK-MASQ" in \
        ipvs_ruleset(cluster, CIDR)
