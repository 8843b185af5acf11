"""Cluster DNS served by every agent: records from the service cache, other names forwarded."""
