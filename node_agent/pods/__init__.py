"""Pods on this host's dockerd: pure decisions (model), the docker driver, the workers (manager)."""
