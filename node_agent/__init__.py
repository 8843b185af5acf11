"""The node agent: pods on the host's dockerd, pod network, service proxy, DNS (docs/architecture.md)."""

__version__ = "0.1.0"
