"""The lab's wire: one switch namespace with bridge br0, one veth per host into it, addresses,
forwarding and the host-gw routes between pod subnets. Every function is idempotent, so `up`
repairs a half-made lab by running them all again. Nothing is added to the root namespace.
"""

from __future__ import annotations

from lab import system
from lab.plan import (CLIENT_ADDRESS, CLIENT_IFNAME, CLIENT_SWITCH_PORT, LAB_SUBNET, SERVICE_CIDR,
                      HostPlan, LabPlan, host_routes)

BRIDGE = "br0"
HOST_IFNAME = "eth0"


def ensure_switch(plan: LabPlan) -> None:
    sw = plan.switch_netns
    system.ensure_netns(sw)
    if not system.link_exists(sw, BRIDGE):
        system.ip(sw, "link", "add", BRIDGE, "type", "bridge")
    # Frames crossing the switch must not be seen by iptables (br_netfilter, if loaded).
    system.sysctl_in_netns(system.netns_path(sw),
                           {"net.bridge.bridge-nf-call-iptables": "0",
                            "net.bridge.bridge-nf-call-ip6tables": "0"})
    system.ip_batch(sw, ["link set lo up", f"link set {BRIDGE} up"])


def ensure_host(plan: LabPlan, host: HostPlan, *, attached: bool) -> None:
    """The host's namespace, its cable into the switch (plugged in or not), address, forwarding
    and routes. Forwarding is on before dockerd starts, else docker sets FORWARD to DROP."""
    sw = plan.switch_netns
    system.ensure_netns(host.netns)
    if not system.link_exists(host.netns, HOST_IFNAME):
        if system.link_exists(sw, host.switch_port):  # half of a cable from a broken run
            system.ip(sw, "link", "del", host.switch_port)
        system.ip(host.netns, "link", "add", HOST_IFNAME, "type", "veth",
                  "peer", "name", host.switch_port, "netns", sw)
    set_attached(plan, host, attached)
    system.sysctl_in_netns(host.netns_path, {"net.ipv4.ip_forward": "1"})
    commands = [
        "link set lo up",
        f"address replace {host.address_cidr} dev {HOST_IFNAME}",
        f"link set {HOST_IFNAME} up",
        *(f"route replace {dst} via {gw} dev {HOST_IFNAME}" for dst, gw in host_routes(plan, host)),
        # Host-originated traffic to a ClusterIP needs a route before the DNAT rules apply.
        f"route replace {SERVICE_CIDR} dev {HOST_IFNAME}",
    ]
    system.ip_batch(host.netns, commands)


def ensure_client(plan: LabPlan) -> None:
    """The client: a namespace on the switch with only the LAN's address and its connected
    route. It reaches node addresses and LoadBalancer addresses as any machine of the LAN
    does, and pod or service addresses not at all."""
    sw = plan.switch_netns
    system.ensure_netns(plan.client_netns)
    if not system.link_exists(plan.client_netns, CLIENT_IFNAME):
        if system.link_exists(sw, CLIENT_SWITCH_PORT):
            system.ip(sw, "link", "del", CLIENT_SWITCH_PORT)
        system.ip(plan.client_netns, "link", "add", CLIENT_IFNAME, "type", "veth",
                  "peer", "name", CLIENT_SWITCH_PORT, "netns", sw)
    system.ip_batch(sw, [f"link set {CLIENT_SWITCH_PORT} master {BRIDGE}",
                         f"link set {CLIENT_SWITCH_PORT} up"])
    system.ip_batch(plan.client_netns, [
        "link set lo up",
        f"address replace {CLIENT_ADDRESS}/{LAB_SUBNET.prefixlen} dev {CLIENT_IFNAME}",
        f"link set {CLIENT_IFNAME} up"])


def set_attached(plan: LabPlan, host: HostPlan, attached: bool) -> None:
    """Plug the host's cable into the switch, or pull it out at the switch end.

    A detached host keeps its link up and its addresses: its packets go nowhere and nothing
    answers, as in a real network partition (no "network unreachable" shortcut).
    """
    sw, port = plan.switch_netns, host.switch_port
    if attached:
        system.ip(sw, "link", "set", port, "master", BRIDGE)
    else:
        system.ip(sw, "link", "set", port, "nomaster")
    system.ip(sw, "link", "set", port, "up")


def is_attached(plan: LabPlan, host: HostPlan) -> bool:
    out = system.ip(plan.switch_netns, "-o", "link", "show", "dev", host.switch_port,
                    check=False).stdout
    return f"master {BRIDGE}" in out
