"""The control plane: API server, object store, scheduler and controllers (see DESIGN.md)."""

__version__ = "0.1.0"
