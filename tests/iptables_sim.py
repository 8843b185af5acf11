"""A small model of the kernel's iptables for tests: applies iptables-restore --noflush payloads
to named chains, and walks a packet through the nat and filter tables, returning every possible
outcome with its probability (a `statistic` rule splits the walk in two).

It understands exactly the matches and targets the proxy renders, and fails loudly on any other,
so a rule the model does not know can never pass unnoticed.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass, field, replace

BUILTIN = {"nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
           "filter": ("INPUT", "FORWARD", "OUTPUT")}


class Kernel:
    """Tables → chains → rules (token lists without the leading "-A CHAIN")."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, list[list[str]]]] = {
            t: {c: [] for c in chains} for t, chains in BUILTIN.items()}

    def restore(self, payload: str) -> None:
        """iptables-restore --noflush: per table, all or nothing."""
        table = staged = None
        for line in payload.splitlines():
            if not line or line.startswith("#"):
                continue
            if line.startswith("*"):
                table = line[1:]
                staged = {c: list(r) for c, r in self.tables[table].items()}
            elif line == "COMMIT":
                self.tables[table] = staged
            elif line.startswith(":"):
                staged[line[1:].split()[0]] = []  # declared: created or flushed
            else:
                tokens = shlex.split(line)
                op, chain, rest = tokens[0], tokens[1], tokens[2:]
                if op == "-A":
                    if chain not in staged:
                        raise ValueError(f"no chain {chain}")
                    staged[chain].append(rest)
                elif op == "-D":
                    staged[chain].remove(rest)
                elif op == "-X":
                    if chain in BUILTIN[table]:
                        raise ValueError(f"cannot delete built-in {chain}")
                    for c, rules in staged.items():
                        if any(_target(r) == chain for r in rules):
                            raise ValueError(f"{chain} is still referenced from {c}")
                    del staged[chain]
                else:
                    raise ValueError(f"unknown line {line!r}")
        # every jump must go to an existing chain
        for t, chains in self.tables.items():
            for c, rules in chains.items():
                for r in rules:
                    target = _target(r)
                    if target.startswith("ORCH-") and target not in chains:
                        raise ValueError(f"{t}/{c} jumps to missing {target}")

    def insert(self, table: str, chain: str, rule: tuple[str, ...]) -> None:
        self.tables[table][chain].insert(0, list(rule))

    def ours(self) -> dict[str, dict[str, list[list[str]]]]:
        return {t: {c: r for c, r in chains.items() if c.startswith("ORCH-")}
                for t, chains in self.tables.items()}


def _target(rule: list[str]) -> str:
    return rule[rule.index("-j") + 1] if "-j" in rule else ""


@dataclass(frozen=True)
class Packet:
    src: str
    dst: str
    dport: int
    proto: str = "tcp"
    mark: int = 0
    recent: frozenset[str] = frozenset()  # `recent` lists that already hold the source


@dataclass
class Outcome:
    probability: float
    verdict: str  # ACCEPT, REJECT, DROP
    packet: Packet  # after DNAT and marks
    dnat: bool = False
    sets_recent: list[str] = field(default_factory=list)


def _in(address: str, cidr: str) -> bool:
    return ipaddress.IPv4Address(address) in ipaddress.IPv4Network(cidr, strict=False)


def _matches(rule: list[str], pkt: Packet, local: set[str]) -> tuple[bool, float | None]:
    """(matches, probability of a statistic match or None)."""
    i, negate, probability = 0, False, None
    end = rule.index("-j") if "-j" in rule else len(rule)
    while i < end:
        tok = rule[i]
        if tok == "!":
            negate, i = True, i + 1
            continue
        if tok in ("-s", "-d"):
            ok = _in(pkt.src if tok == "-s" else pkt.dst, rule[i + 1])
            i += 2
        elif tok == "-p":
            ok, i = pkt.proto == rule[i + 1], i + 2
        elif tok == "-m":
            i += 2  # the module is named by the options that follow
            continue
        elif tok == "--dport":
            low, _, high = rule[i + 1].partition(":")
            ok, i = int(low) <= pkt.dport <= int(high or low), i + 2
        elif tok == "--comment":
            ok, i = True, i + 2
        elif tok == "--dst-type":
            ok, i = (pkt.dst in local) == (rule[i + 1] == "LOCAL"), i + 2
        elif tok == "--src-type":
            ok, i = (pkt.src in local) == (rule[i + 1] == "LOCAL"), i + 2
        elif tok == "--mode":
            ok, i = True, i + 2
        elif tok == "--probability":
            probability, ok, i = float(rule[i + 1]), True, i + 2
        elif tok == "--mark":
            value, _, mask = rule[i + 1].partition("/")
            ok = pkt.mark & int(mask or "0xffffffff", 16) == int(value, 16)
            i += 2
        elif tok == "--ctstate":  # every walked packet opens a new connection
            ok, i = "NEW" in rule[i + 1].split(","), i + 2
        elif tok == "--name":
            name, i = rule[i + 1], i + 2
            if "--rcheck" in rule[i:end]:
                ok = name in pkt.recent
            else:
                ok = True  # --set matches always
        elif tok in ("--rcheck", "--set", "--reap", "--rsource"):
            ok, i = True, i + 1
        elif tok in ("--seconds", "--mask"):
            ok, i = True, i + 2
        else:
            raise ValueError(f"the model does not know {tok!r} in {rule}")
        if ok == negate:
            return False, None
        negate = False
    return True, probability


def walk(kernel: Kernel, table: str, chain: str, pkt: Packet, local: set[str],
         probability: float = 1.0) -> list[Outcome]:
    """Every way `pkt` leaves `chain` (RETURN/fall-through gives verdict "RETURN")."""
    outcomes: list[Outcome] = []
    rules = kernel.tables[table][chain]
    for index, rule in enumerate(rules):
        ok, p = _matches(rule, pkt, local)
        if not ok:
            continue
        if p is not None:  # split: taken with p, the rest continues with 1-p
            outcomes += _apply(kernel, table, chain, rule, pkt, local, probability * p,
                               rules, index)
            probability *= 1 - p
            if probability < 1e-12:
                return outcomes
            continue
        return outcomes + _apply(kernel, table, chain, rule, pkt, local, probability, rules,
                                 index)
    return outcomes + [Outcome(probability, "RETURN", pkt)]


def _apply(kernel, table, chain, rule, pkt, local, probability, rules, index) -> list[Outcome]:
    target = _target(rule)
    args = rule[rule.index("-j") + 2:]
    sets = [rule[rule.index("--name") + 1]] if "--set" in rule else []
    if target in ("ACCEPT", "REJECT", "DROP"):
        return [Outcome(probability, target, pkt, sets_recent=sets)]
    if target == "RETURN":
        return [Outcome(probability, "RETURN", pkt)]
    if target == "DNAT":
        host, _, port = args[args.index("--to-destination") + 1].partition(":")
        return [Outcome(probability, "ACCEPT", replace(pkt, dst=host, dport=int(port)), True,
                        sets)]
    if target in ("MARK", "MASQUERADE"):
        if target == "MARK":
            op, text = args[0], args[1]
            if op == "--set-xmark":  # value/mask: the mask's bits cleared, then value's xored
                value, _, mask = text.partition("/")
                pkt = replace(pkt, mark=(pkt.mark & ~int(mask or "0xffffffff", 16))
                              ^ int(value, 16))
            else:
                value = int(text, 16)
                pkt = replace(pkt, mark=pkt.mark | value if op == "--or-mark"
                              else pkt.mark ^ value)
        rest = Kernel.__new__(Kernel)
        rest.tables = {table: {**kernel.tables[table], "__rest": rules[index + 1:]}}
        if target == "MASQUERADE":
            return [Outcome(probability, "ACCEPT", pkt, False, sets)]
        return walk(rest, table, "__rest", pkt, local, probability)
    if target.startswith("ORCH-"):  # a jump: continue here after RETURN
        out = []
        for o in walk(kernel, table, target, pkt, local, probability):
            if o.verdict == "RETURN":
                rest = Kernel.__new__(Kernel)
                rest.tables = {table: {**kernel.tables[table], "__rest": rules[index + 1:]}}
                out += walk(rest, table, "__rest", o.packet, local, o.probability)
            else:
                out.append(o)
        return out
    raise ValueError(f"the model does not know target {target!r}")


def route(kernel: Kernel, pkt: Packet, local: set[str], from_host: bool) -> list[Outcome]:
    """A new connection through the node: nat PREROUTING (or OUTPUT when the host itself sends
    it), then filter INPUT (addressed to the node) or FORWARD/OUTPUT."""
    results = []
    for nat in walk(kernel, "nat", "OUTPUT" if from_host else "PREROUTING", pkt, local):
        hook = "OUTPUT" if from_host else ("INPUT" if nat.packet.dst in local else "FORWARD")
        for f in walk(kernel, "filter", hook, nat.packet, local, nat.probability):
            verdict = f.verdict if f.verdict in ("REJECT", "DROP") else "ACCEPT"
            results.append(Outcome(f.probability, verdict, f.packet, nat.dnat, nat.sets_recent))
    return results


def destinations(outcomes: list[Outcome]) -> dict[tuple[str, str, bool], float]:
    """(verdict, "ip:port", masquerade mark) → probability, merged."""
    out: dict[tuple[str, str, bool], float] = {}
    for o in outcomes:
        key = (o.verdict, f"{o.packet.dst}:{o.packet.dport}", bool(o.packet.mark & 0x4000))
        out[key] = out.get(key, 0) + o.probability
    return {k: round(v, 6) for k, v in out.items()}
