"""Service virtual IPs and node ports: the agent's kube-proxy (iptables backend, IPVS backend)."""
