"""The iptables backend (I/O): applies rendered rulesets with iptables-restore.

Every command can run inside a named network namespace (`netns`), which the benchmark uses; the
agent runs in its host's namespace already and passes none.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass

from node_agent.proxy.iptables import JUMPS, Block, chains_in, cleanup_ruleset, render
from node_agent.proxy.model import ProxyState, ServicePortName

log = logging.getLogger(__name__)


class ProxyError(Exception):
    pass


@dataclass(frozen=True)
class SyncResult:
    full: bool
    written: int  # service ports whose chains were (re)written
    deleted: int  # stale chains deleted
    seconds: float


class Iptables:
    # One change at a time from this process: the proxy and the network policies both
    # restore into the filter table, and iptables-nft refuses a transaction that races another.
    _lock = threading.Lock()

    def __init__(self, netns: str | None = None, timeout: float = 300) -> None:
        self.prefix = ["ip", "netns", "exec", netns] if netns else []
        self.timeout = timeout

    def _run(self, argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        with self._lock:
            return subprocess.run(self.prefix + argv, input=stdin, text=True,
                                  capture_output=True, timeout=self.timeout)

    def restore(self, text: str) -> None:
        done = self._run(["iptables-restore", "--noflush"], text)
        if done.returncode != 0:
            raise ProxyError(f"iptables-restore: {done.stderr.strip()[:2000]}")

    def save(self, table: str | None = None) -> str:
        done = self._run(["iptables-save", *(["-t", table] if table else [])])
        if done.returncode != 0:
            raise ProxyError(f"iptables-save: {done.stderr.strip()[:2000]}")
        return str(done.stdout)

    def ensure_rule(self, table: str, chain: str, rule: tuple[str, ...]) -> bool:
        """Insert `rule` at the top of `chain` unless it is there (True when inserted)."""
        if self._run(["iptables", "-w", "5", "-t", table, "-C", chain, *rule]).returncode == 0:
            return False
        done = self._run(["iptables", "-w", "5", "-t", table, "-I", chain, "1", *rule])
        if done.returncode != 0:
            raise ProxyError(f"iptables -I {chain}: {done.stderr.strip()}")
        return True


    def ensure_first(self, table: str, chain: str, rule: tuple[str, ...]) -> bool:
        """Make `rule` the first rule of `chain` (moving it there if something was inserted
        above it since); True when it changed anything."""
        listed = self._run(["iptables", "-w", "5", "-t", table, "-S", chain])
        if listed.returncode != 0:
            raise ProxyError(f"iptables -S {chain}: {listed.stderr.strip()}")
        rules = [line for line in listed.stdout.splitlines() if line.startswith("-A ")]
        wanted = shlex.join(["-A", chain, *rule])
        if rules and _same_rule(rules[0], wanted):
            return False
        while self._run(["iptables", "-w", "5", "-t", table, "-D", chain, *rule]).returncode == 0:
            pass  # every copy out, then one on top
        done = self._run(["iptables", "-w", "5", "-t", table, "-I", chain, "1", *rule])
        if done.returncode != 0:
            raise ProxyError(f"iptables -I {chain}: {done.stderr.strip()}")
        return True


def _same_rule(listed: str, wanted: str) -> bool:
    """iptables -S quotes comments its own way: compare the words."""
    return shlex.split(listed) == shlex.split(wanted)


class IptablesProxier:
    """Keeps what was last applied (`applied`, the blocks in force) so that a sync writes only
    the service ports that changed; None means the kernel's state is not known (first sync, or
    after a failure) and the next sync is a full one."""

    name = "iptables"

    def __init__(self, iptables: Iptables, cluster_cidr: str) -> None:
        self.iptables, self.cluster_cidr = iptables, cluster_cidr
        self.applied: dict[ServicePortName, Block] | None = None

    def sync(self, state: ProxyState, full: bool = False) -> SyncResult:
        started = time.monotonic()
        full = full or self.applied is None
        try:
            if full:
                existing = chains_in(self.iptables.save("nat"), "nat")
                ruleset = render(state, self.cluster_cidr, None, existing)
            else:
                ruleset = render(state, self.cluster_cidr, self.applied)
            self.iptables.restore(ruleset.text)
            if full:
                for table, chain, rule in JUMPS:
                    self.iptables.ensure_rule(table, chain, rule)
        except Exception:
            self.applied = None
            raise
        self.applied = ruleset.blocks
        return SyncResult(full, ruleset.written, len(ruleset.deleted),
                          time.monotonic() - started)

    def cleanup(self) -> bool:
        """Removes every chain and jump of ours (True when there was something)."""
        text = cleanup_ruleset(self.iptables.save())
        if text:
            self.iptables.restore(text)
        self.applied = None
        return bool(text)
