"""Pods on this host: pure decisions and status (model), what a pod is in containers
(containers), volumes on disk (volumes), the workers (manager) driving the container runtime
(node_agent/runtime)."""
