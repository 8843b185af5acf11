"""Pure: the iptables ruleset of kube-proxy's iptables mode, rendered as iptables-restore input.

Chains (all ours carry the ORCH- prefix; nothing else is ever touched):

  nat    PREROUTING, OUTPUT → ORCH-SERVICES: one rule per service port with ready endpoints,
             cluster IP:port → ORCH-SVC-<hash>, each load balancer IP:port → ORCH-EXT-<hash>;
             last, local destinations → ORCH-NODEPORTS
         ORCH-NODEPORTS: node port → ORCH-EXT-<hash>
         ORCH-EXT-<hash> (traffic from outside the service's cluster IP): with
             externalTrafficPolicy Cluster, marked for masquerade → ORCH-SVC-<hash>; with Local,
             pods and the node itself → ORCH-SVC-<hash> (marked if from the node), everyone
             else → ORCH-SVL-<hash> unmasqueraded (the client's address kept)
         ORCH-SVL-<hash>: as ORCH-SVC-<hash>, over this node's endpoints only
         ORCH-SVC-<hash>: traffic from outside the pod network is marked for masquerade; with
             ClientIP affinity, a client seen recently goes back to its endpoint; then one rule
             per endpoint i of n with `statistic --probability 1/(n-i)` (the last one always):
             every endpoint is picked with probability 1/n
         ORCH-SEP-<hash>: the endpoint itself calling the service (hairpin) is marked, DNAT
         POSTROUTING → ORCH-POSTROUTING: marked packets are masqueraded (mark cleared first)
  filter OUTPUT, FORWARD (new connections) → ORCH-SERVICES: cluster IP of a service port
             without ready endpoints → REJECT (the caller fails at once instead of hanging)
         INPUT, FORWARD (new connections) → ORCH-EXTERNAL-SERVICES: its node port and load
             balancer IPs → REJECT; with Local and no endpoint on this node, external traffic
             to its load balancer IPs is dropped (kube-proxy's "has no local endpoints")
         FORWARD → ORCH-FORWARD: accepts marked and established traffic, for hosts whose
             FORWARD policy is DROP

Chain names are derived from a hash of the service port (and endpoint), so they are the same in
every process and after a restart. A *block* is the nat chains of one service port; a partial
sync writes only the blocks that differ from what was last applied (`render(previous=…)`), the
top-level chains always, and deletes stale chains in the same transaction.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from node_agent.proxy.model import Endpoint, ProxyState, ServicePort, ServicePortName

PREFIX = "ORCH-"
SERVICES = "ORCH-SERVICES"
NODEPORTS = "ORCH-NODEPORTS"
POSTROUTING = "ORCH-POSTROUTING"
MARK_MASQ = "ORCH-MARK-MASQ"
EXTERNAL_SERVICES = "ORCH-EXTERNAL-SERVICES"
FORWARD = "ORCH-FORWARD"
SERVICE_CHAIN_PREFIXES = ("ORCH-SVC-", "ORCH-SVL-", "ORCH-EXT-", "ORCH-SEP-")
MASQ_MARK = "0x4000"
NAT_TOP_CHAINS = (SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ)
FILTER_CHAINS = (SERVICES, EXTERNAL_SERVICES, FORWARD)

# Jumps from the built-in chains into ours: (table, chain, rule). Installed after the chains
# exist, each only when `iptables -C` does not find it, at the top of the built-in chain.
JUMPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("nat", "PREROUTING", ("-m", "comment", "--comment", "orch service portals",
                           "-j", SERVICES)),
    ("nat", "OUTPUT", ("-m", "comment", "--comment", "orch service portals", "-j", SERVICES)),
    ("nat", "POSTROUTING", ("-m", "comment", "--comment", "orch service masquerading",
                            "-j", POSTROUTING)),
    ("filter", "INPUT", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                         "orch node ports without endpoints", "-j", EXTERNAL_SERVICES)),
    ("filter", "FORWARD", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                           "orch node ports without endpoints", "-j", EXTERNAL_SERVICES)),
    ("filter", "FORWARD", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                           "orch service portals without endpoints", "-j", SERVICES)),
    ("filter", "OUTPUT", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                          "orch service portals without endpoints", "-j", SERVICES)),
    ("filter", "FORWARD", ("-m", "comment", "--comment", "orch forwarding rules",
                           "-j", FORWARD)),
)


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def svc_chain(name: ServicePortName) -> str:
    return "ORCH-SVC-" + _hash(f"{name}/{name.protocol}")


def svl_chain(name: ServicePortName) -> str:
    return "ORCH-SVL-" + _hash(f"{name}/{name.protocol}")


def ext_chain(name: ServicePortName) -> str:
    return "ORCH-EXT-" + _hash(f"{name}/{name.protocol}")


def sep_chain(name: ServicePortName, endpoint: Endpoint) -> str:
    return "ORCH-SEP-" + _hash(f"{name}/{name.protocol}/{endpoint}")


def port_match(protocol: str, port: int) -> str:
    p = protocol.lower()
    return f"-p {p} -m {p} --dport {port}"


def comment(text: str) -> str:
    return f'-m comment --comment "{text}"'


# Marked packets are masqueraded on the way out (the mark cleared first, so a packet that is
# routed again is not masqueraded twice); ORCH-MARK-MASQ marks and returns.
MASQUERADE_RULES = (
    f"-A {POSTROUTING} -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
    f"-A {POSTROUTING} -j MARK --xor-mark {MASQ_MARK}",
    f"-A {POSTROUTING} {comment('orch service traffic requiring SNAT')} -j MASQUERADE",
    f"-A {MARK_MASQ} -j MARK --or-mark {MASQ_MARK}",
)
# For hosts whose FORWARD policy is DROP: service traffic and its replies pass.
FORWARD_RULES = (
    f"-A {FORWARD} {comment('orch forwarding rules')} "
    f"-m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT",
    f"-A {FORWARD} {comment('orch forwarding conntrack rule')} "
    "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
)


@dataclass(frozen=True)
class Block:
    """The nat chains of one service port, in order (its ORCH-SVC chain first), and their rules."""
    chains: tuple[str, ...]
    rules: tuple[str, ...]


def _spread(chain: str, sp: ServicePort, endpoints: tuple[Endpoint, ...]) -> list[str]:
    """`chain`'s rules sending each connection to one of `endpoints`: back to the one a client
    was sent to recently (ClientIP affinity), else each with probability 1/n."""
    seps = [sep_chain(sp.name, e) for e in endpoints]
    rules = []
    if sp.affinity_seconds:
        rules += [f"-A {chain} {comment(str(sp.name))} -m recent --name {sep} --rcheck "
                  f"--seconds {sp.affinity_seconds} --reap --mask 255.255.255.255 --rsource "
                  f"-j {sep}" for sep in seps]
    n = len(endpoints)
    for i, (endpoint, sep) in enumerate(zip(endpoints, seps)):
        pick = "" if i == n - 1 else \
            f"-m statistic --mode random --probability {1 / (n - i):.10f} "
        rules.append(f"-A {chain} {comment(f'{sp.name} -> {endpoint}')} {pick}-j {sep}")
    return rules


def service_block(sp: ServicePort, endpoints: tuple[Endpoint, ...], cluster_cidr: str,
                  local: tuple[Endpoint, ...] = ()) -> Block:
    """The chains of a service port with at least one ready endpoint (`local`: those on this
    node, which externalTrafficPolicy Local sends external traffic to)."""
    svc = svc_chain(sp.name)
    seps = [sep_chain(sp.name, e) for e in endpoints]
    match = port_match(sp.name.protocol, sp.port)
    rules = [f"-A {svc} {comment(f'{sp.name} cluster IP')} ! -s {cluster_cidr} "
             f"-d {sp.cluster_ip}/32 {match} -j {MARK_MASQ}", *_spread(svc, sp, endpoints)]
    chains = [svc]
    if sp.external:
        ext = ext_chain(sp.name)
        chains.append(ext)
        what = f"{sp.name} external destinations"
        if not sp.local_only:
            rules += [f"-A {ext} {comment('masquerade traffic for ' + what)} -j {MARK_MASQ}",
                      f"-A {ext} -j {svc}"]
        else:
            rules += [f"-A {ext} {comment('pod traffic for ' + what)} -s {cluster_cidr} "
                      f"-j {svc}",
                      f"-A {ext} {comment('masquerade LOCAL traffic for ' + what)} "
                      f"-m addrtype --src-type LOCAL -j {MARK_MASQ}",
                      f"-A {ext} {comment('route LOCAL traffic for ' + what)} "
                      f"-m addrtype --src-type LOCAL -j {svc}"]
            if local:
                svl = svl_chain(sp.name)
                chains.append(svl)
                rules += [f"-A {ext} -j {svl}", *_spread(svl, sp, local)]
    for endpoint, sep in zip(endpoints, seps):
        p = sp.name.protocol.lower()
        rules.append(f"-A {sep} {comment(str(sp.name))} -s {endpoint.ip}/32 -j {MARK_MASQ}")
        recent = (f"-m recent --set --name {sep} --mask 255.255.255.255 --rsource "
                  if sp.affinity_seconds else "")
        rules.append(f"-A {sep} {comment(str(sp.name))} -p {p} {recent}-m {p} "
                     f"-j DNAT --to-destination {endpoint}")
    return Block((*chains, *seps), tuple(rules))


@dataclass(frozen=True)
class Ruleset:
    text: str  # iptables-restore --noflush input
    blocks: dict[ServicePortName, Block]  # every block now in force (the next `previous`)
    written: int  # blocks written by this payload
    deleted: tuple[str, ...]  # stale chains it deletes


def render(state: ProxyState, cluster_cidr: str, previous: dict[ServicePortName, Block] | None
           = None, existing: Iterable[str] = ()) -> Ruleset:
    """The whole ruleset when `previous` is None (a full sync: every block is written, and chains
    of `existing`, the ORCH-SVC/SEP chains found in the kernel, that are no longer wanted are
    deleted); otherwise only blocks that differ from `previous`, and the chains of `previous`
    no longer wanted are deleted."""
    blocks: dict[ServicePortName, Block] = {}
    nat_top = list(MASQUERADE_RULES)
    nodeports: list[str] = []
    filter_rules: list[str] = []
    for name in sorted(state.services):
        sp = state.services[name]
        endpoints = state.endpoints.get(name, ())
        match = port_match(name.protocol, sp.port)
        if not endpoints:
            filter_rules.append(
                f"-A {SERVICES} {comment(f'{name} has no endpoints')} -d {sp.cluster_ip}/32 "
                f"{match} -j REJECT --reject-with icmp-port-unreachable")
            if sp.node_port:
                filter_rules.append(
                    f"-A {EXTERNAL_SERVICES} {comment(f'{name} has no endpoints')} "
                    f"-m addrtype --dst-type LOCAL {port_match(name.protocol, sp.node_port)} "
                    "-j REJECT --reject-with icmp-port-unreachable")
            filter_rules += [
                f"-A {EXTERNAL_SERVICES} {comment(f'{name} has no endpoints')} -d {ip}/32 "
                f"{match} -j REJECT --reject-with icmp-port-unreachable"
                for ip in sp.load_balancer_ips]
            continue
        local = state.local_endpoints(name) if sp.local_only else ()
        block = blocks[name] = service_block(sp, endpoints, cluster_cidr, local)
        nat_top.append(f"-A {SERVICES} {comment(f'{name} cluster IP')} -d {sp.cluster_ip}/32 "
                       f"{match} -j {block.chains[0]}")
        nat_top += [f"-A {SERVICES} {comment(f'{name} loadbalancer IP')} -d {ip}/32 {match} "
                    f"-j {ext_chain(name)}" for ip in sp.load_balancer_ips]
        if sp.local_only and not local:
            filter_rules += [
                f"-A {EXTERNAL_SERVICES} {comment(f'{name} has no local endpoints')} "
                f"! -s {cluster_cidr} -m addrtype ! --src-type LOCAL -d {ip}/32 {match} -j DROP"
                for ip in sp.load_balancer_ips]
        if sp.node_port:
            np_match = port_match(name.protocol, sp.node_port)
            nodeports.append(f"-A {NODEPORTS} {comment(str(name))} {np_match} "
                             f"-j {ext_chain(name)}")
    nat_top.append(f"-A {SERVICES} {comment('node ports; must be the last rule')} "
                   f"-m addrtype --dst-type LOCAL -j {NODEPORTS}")
    filter_rules += FORWARD_RULES

    if previous is None:
        write = blocks
        had = {c for c in existing if c.startswith(SERVICE_CHAIN_PREFIXES)}
    else:
        write = {n: b for n, b in blocks.items() if previous.get(n) != b}
        had = {c for b in previous.values() for c in b.chains}
    wanted = {c for b in blocks.values() for c in b.chains}
    stale = tuple(sorted(had - wanted))

    lines = ["*filter", *(f":{c} - [0:0]" for c in FILTER_CHAINS), *filter_rules, "COMMIT",
             "*nat", *(f":{c} - [0:0]" for c in NAT_TOP_CHAINS)]
    for name in sorted(write):
        lines += [f":{c} - [0:0]" for c in write[name].chains]
    lines += [f":{c} - [0:0]" for c in stale]
    lines += nat_top + nodeports  # (iptables-restore keeps the order within each chain)
    for name in sorted(write):
        lines += write[name].rules
    lines += [f"-X {c}" for c in stale]
    lines += ["COMMIT", ""]
    return Ruleset("\n".join(lines), blocks, len(write), stale)


def chains_in(saved: str, table: str) -> set[str]:
    """Chains of `table` in iptables-save output."""
    chains, current = set(), None
    for line in saved.splitlines():
        if line.startswith("*"):
            current = line[1:].strip()
        elif line.startswith(":") and current == table:
            chains.add(line[1:].split()[0])
    return chains


def cleanup_ruleset(saved: str) -> str:
    """iptables-restore --noflush input that removes everything with our prefix from the tables
    in `saved` (iptables-save output): the jumps into our chains from other chains, then our
    chains themselves. Empty when there is nothing of ours."""
    out: list[str] = []
    table: str | None = None
    ours: list[str] = []
    deletes: list[str] = []

    def flush_table() -> None:
        if table and (ours or deletes):
            out.extend([f"*{table}", *(f":{c} - [0:0]" for c in ours), *deletes,
                        *(f"-X {c}" for c in ours), "COMMIT"])

    for line in saved.splitlines():
        if line.startswith("*"):
            flush_table()
            table, ours, deletes = line[1:].strip(), [], []
        elif line.startswith(":"):
            chain = line[1:].split()[0]
            if chain.startswith(PREFIX):
                ours.append(chain)
        elif line.startswith("-A "):
            chain = line.split()[1]
            target = line.split(" -j ", 1)[1].split()[0] if " -j " in line else ""
            if not chain.startswith(PREFIX) and target.startswith(PREFIX):
                deletes.append("-D " + line[3:])
    flush_table()
    return "\n".join(out) + "\n" if out else ""
