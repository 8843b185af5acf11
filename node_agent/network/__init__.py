"""The pod network of this node: routes to the other nodes' pod CIDRs (host-gw) and masquerade
for traffic leaving the cluster's pod network."""
