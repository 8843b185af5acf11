#!/bin/sh
# PID 1 of a pod's pause container. It only waits: the pod's containers join its namespaces.
# It exits 0 at once on SIGTERM or SIGINT (PID 1 has no default signal actions, hence the trap).
trap 'exit 0' TERM INT
while :; do
    sleep 2147483647 &
    wait $!
done
