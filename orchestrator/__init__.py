"""The control plane: API server, object store, scheduler and controllers (docs/architecture.md)."""

__version__ = "0.1.0"
