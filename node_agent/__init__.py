"""The node agent: pods on the host's dockerd, pod network, service proxy, DNS (see DESIGN.md)."""

__version__ = "0.1.0"
