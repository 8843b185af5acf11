"""Pure: NetworkPolicy as iptables rules for the pods of one node, rendered as
iptables-restore input for the filter table (applied in one transaction, as the proxy's).

    FORWARD, INPUT → ORCH-NETPOL (first rule of each: before the proxy's and docker's accepts)
    ORCH-NETPOL: replies and packets of allowed connections (ESTABLISHED, RELATED) pass; then
        each local pod isolated for egress: -s <pod> → ORCH-NP-E-<hash>
        each local pod isolated for ingress: -d <pod> → ORCH-NP-I-<hash>
    ORCH-NP-E-<hash> / ORCH-NP-I-<hash> (one pod's): every rule of every policy selecting the
        pod marks what it allows (0x8000); marked packets RETURN (on to the next check and the
        rest of the chain), the others are DROPped: the connection times out, as Kubernetes
        implementations do. An ipBlock with `except` gets a chain of its own
        (ORCH-NP-B-<hash>): the excepted ranges RETURN unmarked, the block marks.

A pod is isolated for a direction when a policy of that type (policyTypes) selects it; a pod
no policy selects is untouched. Traffic the node itself sends (probes, the proxy's
masqueraded traffic is not: it is forwarded) never crosses FORWARD, so the node always reaches
its pods, as Kubernetes requires. Policies see the real pod addresses: service addresses are
translated before the filter table (PREROUTING DNAT). hostNetwork pods are not subject to
policies. Egress to the cluster resolver (the node's pod gateway, port 53) crosses INPUT and is
allowed only as any other egress is: by a rule that allows it.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from kube.kinds.networkpolicy import (NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort)
from kube.meta import selector_matches

CHAIN = "ORCH-NETPOL"
PREFIX = "ORCH-NP-"
ALLOW_MARK = "0x8000"
JUMPS: tuple[tuple[str, str, tuple[str, ...]], ...] = tuple(
    ("filter", hook, ("-m", "comment", "--comment", "orch network policies", "-j", CHAIN))
    for hook in ("FORWARD", "INPUT"))


@dataclass(frozen=True)
class PodInfo:
    """What policies need of a pod: where it is, its labels, its named container ports."""
    namespace: str
    name: str
    ip: str
    node: str
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    ports: dict[tuple[str, str], int] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Ruleset:
    text: str  # iptables-restore --noflush input
    chains: frozenset[str]  # every chain of ours it leaves (ORCH-NETPOL and ORCH-NP-*)
    isolated: int  # local pods with a chain


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def _comment(text: str) -> str:
    return f'-m comment --comment "{text}"'


def selects(policy: NetworkPolicy, pod: PodInfo) -> bool:
    return policy.metadata.namespace == pod.namespace and selector_matches(
        policy.spec.pod_selector, pod.labels)


def peer_pods(peer: NetworkPolicyPeer, policy_namespace: str, pods: Iterable[PodInfo],
              namespaces: dict[str, dict[str, str]]) -> list[PodInfo]:
    """The pods a selector peer picks: podSelector alone, in the policy's namespace;
    namespaceSelector alone, every pod of the namespaces it picks; both, the pods it picks in
    those namespaces."""
    out = []
    for pod in pods:
        if peer.namespace_selector is None:
            if pod.namespace != policy_namespace:
                continue
        elif not selector_matches(peer.namespace_selector, namespaces.get(pod.namespace, {})):
            continue
        if peer.pod_selector is not None and not selector_matches(peer.pod_selector,
                                                                  pod.labels):
            continue
        out.append(pod)
    return sorted(out, key=lambda p: (p.ip, p.namespace, p.name))


def port_matches(port: NetworkPolicyPort, resolver: PodInfo | None) -> list[str]:
    """iptables matches for one policy port: a number, a range (endPort), every port of the
    protocol (no port), or a named port resolved on `resolver` (the pod whose port it is;
    none, or a pod without that name: nothing matches)."""
    proto = port.protocol.lower()
    if port.port is None:
        return [f"-p {proto}"]
    if isinstance(port.port, str):
        number = resolver.ports.get((port.port, port.protocol)) if resolver else None
        return [f"-p {proto} -m {proto} --dport {number}"] if number else []
    if port.end_port is not None and port.end_port != port.port:
        return [f"-p {proto} -m {proto} --dport {port.port}:{port.end_port}"]
    return [f"-p {proto} -m {proto} --dport {port.port}"]


def _mark(chain: str, match: str, why: str) -> str:
    parts = [f"-A {chain}", _comment(why), match.strip(),
             f"-j MARK --set-xmark {ALLOW_MARK}/{ALLOW_MARK}"]
    return " ".join(p for p in parts if p)


def _rule_lines(chain: str, direction: str, pod: PodInfo, peers: list[NetworkPolicyPeer] | None,
                ports: list[NetworkPolicyPort] | None, why: str, pods: list[PodInfo],
                namespaces: dict[str, dict[str, str]], policy_namespace: str,
                extra: dict[str, list[str]]) -> list[str]:
    """The marking rules of one policy rule for `pod` (direction "ingress": peers are sources
    and named ports are the pod's own; "egress": peers are destinations and named ports are
    theirs)."""
    side = "-s" if direction == "ingress" else "-d"
    lines: list[str] = []

    def port_sets(resolver: PodInfo | None) -> list[str]:
        if not ports:
            return [""]
        return [m for p in ports for m in port_matches(p, resolver)]

    if not peers:  # every source / destination
        if direction == "ingress" or not any(isinstance(p.port, str) for p in ports or ()):
            return [_mark(chain, m, why) for m in port_sets(pod if direction == "ingress"
                                                            else None)]
        # named egress ports are resolved on each destination pod
        for target in pods:
            lines += [_mark(chain, f"-d {target.ip}/32 {m}", why)
                      for m in port_sets(target)]
        return lines
    for peer in peers:
        if peer.ip_block is not None:
            block = peer.ip_block
            matches = port_sets(pod if direction == "ingress" else None)
            if not block.except_:
                lines += [_mark(chain, f"{side} {_cidr(block.cidr)} {m}", why) for m in matches]
                continue
            sub = PREFIX + "B-" + _hash(f"{chain}/{why}/{block.cidr}/{block.except_}")
            extra[sub] = [*(f"-A {sub} {side} {_cidr(e)} -j RETURN" for e in block.except_),
                          *(_mark(sub, f"{side} {_cidr(block.cidr)} {m}", why)
                            for m in matches)]
            lines.append(f"-A {chain} {_comment(why)} -j {sub}")
            continue
        for other in peer_pods(peer, policy_namespace, pods, namespaces):
            resolver = pod if direction == "ingress" else other
            lines += [_mark(chain, f"{side} {other.ip}/32 {m}", why) for m in port_sets(resolver)]
    return lines


def _cidr(text: str) -> str:
    return str(ipaddress.IPv4Network(text, strict=False))


def render(policies: list[NetworkPolicy], pods: list[PodInfo],
           namespaces: dict[str, dict[str, str]], node: str,
           existing: Iterable[str] = ()) -> Ruleset:
    """The filter-table rules enforcing `policies` for the pods of `node`; chains of
    `existing` (ours, found in the kernel) no longer wanted are deleted in the same
    transaction."""
    policies = sorted(policies, key=lambda p: (p.metadata.namespace or "", p.metadata.name or ""))
    top = [f"-A {CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]
    chains: dict[str, list[str]] = {}
    extra: dict[str, list[str]] = {}
    local = sorted((p for p in pods if p.node == node), key=lambda p: (p.namespace, p.name))
    isolated = 0
    for pod in local:
        pod_isolated = False
        for direction, letter, kind in (("egress", "E", "Egress"), ("ingress", "I", "Ingress")):
            selecting = [p for p in policies if kind in (p.spec.policy_types or ())
                         and selects(p, pod)]
            if not selecting:
                continue
            pod_isolated = True
            chain = f"{PREFIX}{letter}-{_hash(f'{pod.namespace}/{pod.name}/{direction}')}"
            lines = [f"-A {chain} -j MARK --set-xmark 0x0/{ALLOW_MARK}"]
            for policy in selecting:
                rules: list[tuple[list[NetworkPolicyPeer] | None,
                                  list[NetworkPolicyPort] | None]] = \
                    [(r.to, r.ports) for r in policy.spec.egress or ()] if direction == "egress" \
                    else [(r.from_, r.ports) for r in policy.spec.ingress or ()]
                for i, (peers, ports) in enumerate(rules):
                    why = f"{policy.metadata.namespace}/{policy.metadata.name} {direction}[{i}]"
                    lines += _rule_lines(chain, direction, pod, peers, ports, why, pods,
                                         namespaces, policy.metadata.namespace or "", extra)
            lines += [f"-A {chain} -m mark --mark {ALLOW_MARK}/{ALLOW_MARK} -j RETURN",
                      f"-A {chain} {_comment(f'{pod.namespace}/{pod.name} {direction} not allowed')}"
                      " -j DROP"]
            chains[chain] = lines
            side = "-s" if direction == "egress" else "-d"
            top.append(f"-A {CHAIN} {_comment(f'{pod.namespace}/{pod.name} {direction}')} "
                       f"{side} {pod.ip}/32 -j {chain}")
        isolated += pod_isolated
    top.append(f"-A {CHAIN} -j MARK --set-xmark 0x0/{ALLOW_MARK}")
    wanted = {CHAIN, *chains, *extra}
    stale = sorted({c for c in existing if c.startswith(PREFIX)} - wanted)
    lines = ["*filter", *(f":{c} - [0:0]" for c in sorted(wanted)), *(f":{c} - [0:0]"
                                                                   for c in stale)]
    lines += top
    for name in sorted(chains):
        lines += chains[name]
    for name in sorted(extra):
        lines += extra[name]
    lines += [f"-X {c}" for c in stale]
    lines += ["COMMIT", ""]
    return Ruleset("\n".join(lines), frozenset(wanted), isolated)
