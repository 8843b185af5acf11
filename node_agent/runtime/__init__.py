"""The container-runtime seam (as kubelet's CRI, small): what the agent needs of a runtime,
in the runtime's own terms (containers with labels, configs, states), knowing nothing of pods.

    protocol.py   ContainerRuntime (the interface), the configs and states it takes and gives
    errors.py     the named errors every implementation raises, and nothing else
    docker.py     DockerRuntime: the host's dockerd through one docker SDK client
    fake.py       FakeRuntime: in memory, for the pure layers' tests

What a pod means in containers (a sandbox holding the network, app containers joined to it,
the labels that tie them to the pod) is decided in node_agent/pods/, not here.
"""

from node_agent.runtime.errors import (ImageMissing, NotFound, RuntimeFailure, StartFailed,
                                       Unavailable)
from node_agent.runtime.protocol import (ContainerConfig, ContainerRuntime, ContainerState,
                                         StreamSession, Mount, RuntimeInfo, SandboxConfig)

__all__ = ["ContainerConfig", "ContainerRuntime", "ContainerState", "StreamSession",
           "ImageMissing", "Mount", "NotFound", "RuntimeFailure", "RuntimeInfo",
           "SandboxConfig", "StartFailed", "Unavailable"]
