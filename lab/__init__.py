"""A lab of Docker hosts on one Linux machine: network namespaces, one dockerd and one etcd
member per host, a bridge between them. `scripts/lab` is its command line (lab.cli)."""
