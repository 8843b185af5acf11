"""Looking up this host's interfaces (I/O, through pyroute2)."""

from __future__ import annotations

import socket

from pyroute2 import IPRoute


def interface_with_address(address: str) -> str | None:
    """The name of the interface that holds IPv4 `address`, None when none does."""
    with IPRoute() as ipr:
        for message in ipr.get_addr(family=socket.AF_INET):
            if message.get_attr("IFA_ADDRESS") == address:
                return socket.if_indextoname(message["index"])
    return None
