"""Layer-2 announcement of load balancer addresses: answering ARP for them, and gratuitous ARP
when this node takes one over, as MetalLB's layer2 speaker does.

The addresses are never configured on an interface: the kernel knows nothing of them, so a
crashed agent stops answering by itself, and nothing is left to clean up. Traffic for them
arrives at this node's MAC address and the proxy's rules (PREROUTING DNAT) carry it on.

Pure: parsing a frame (`parse_arp`) and building replies and gratuitous frames. I/O:
`ArpResponder`, one raw AF_PACKET socket on the node's interface and a thread answering from it.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
BROADCAST = b"\xff" * 6
REQUEST, REPLY = 1, 2
_ETH = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")  # htype ptype hlen plen op sha spa tha tpa


@dataclass(frozen=True)
class Arp:
    op: int
    sender_mac: bytes
    sender_ip: str
    target_mac: bytes
    target_ip: str


def parse_arp(frame: bytes) -> Arp | None:
    """An Ethernet/IPv4 ARP packet, or None for anything else (short, another protocol)."""
    if len(frame) < _ETH.size + _ARP.size:
        return None
    _, _, ethertype = _ETH.unpack_from(frame)
    if ethertype != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(frame, _ETH.size)
    if (htype, ptype, hlen, plen) != (1, ETH_P_IP, 6, 4) or op not in (REQUEST, REPLY):
        return None
    return Arp(op, sha, socket.inet_ntoa(spa), tha, socket.inet_ntoa(tpa))


def _frame(dst: bytes, src: bytes, op: int, sha: bytes, spa: str, tha: bytes, tpa: str) -> bytes:
    return _ETH.pack(dst, src, ETH_P_ARP) + _ARP.pack(
        1, ETH_P_IP, 6, 4, op, sha, socket.inet_aton(spa), tha, socket.inet_aton(tpa))


def reply_to(request: Arp, mac: bytes) -> bytes:
    """The reply saying `request.target_ip` is at `mac`, sent to the asker alone."""
    return _frame(request.sender_mac, mac, REPLY, mac, request.target_ip, request.sender_mac,
                  request.sender_ip)


def gratuitous(ip: str, mac: bytes) -> list[bytes]:
    """Broadcasts telling every machine of the LAN that `ip` is now at `mac`: a request and a
    reply for the address itself (RFC 5227's announcement; hosts update an entry they have
    from either)."""
    return [_frame(BROADCAST, mac, REQUEST, mac, ip, b"\x00" * 6, ip),
            _frame(BROADCAST, mac, REPLY, mac, ip, BROADCAST, ip)]


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


class ArpResponder:
    """Answers ARP requests for the addresses `announce` was last given, on `interface`."""

    def __init__(self, interface: str) -> None:
        self.interface = interface
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
        self._sock.bind((interface, ETH_P_ARP))
        self.mac: bytes = self._sock.getsockname()[4]
        self._addresses: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._serve, name=f"arp-{self.interface}", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        self._sock.close()

    def announce(self, addresses: set[str]) -> set[str]:
        """Answer for `addresses` from now on; the ones that are new are announced with
        gratuitous ARP at once. Returns those."""
        new = {a for a in addresses if ipaddress.IPv4Address(a)} - self._addresses
        with self._lock:
            self._addresses = frozenset(addresses)
        for ip in sorted(new):
            self.send_gratuitous(ip)
        return new

    @property
    def addresses(self) -> frozenset[str]:
        return self._addresses

    def send_gratuitous(self, ip: str) -> None:
        for frame in gratuitous(ip, self.mac):
            try:
                self._sock.send(frame)
            except OSError as e:
                log.warning("gratuitous ARP for %s on %s: %s", ip, self.interface, e)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                frame = self._sock.recv(2048)
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            arp = parse_arp(frame)
            if arp is None or arp.op != REQUEST or arp.target_ip not in self._addresses:
                continue
            if arp.sender_ip == arp.target_ip:
                continue  # another node's gratuitous ARP, not a question
            try:
                self._sock.send(reply_to(arp, self.mac))
            except OSError as e:
                log.warning("ARP reply for %s to %s: %s", arp.target_ip, arp.sender_ip, e)
