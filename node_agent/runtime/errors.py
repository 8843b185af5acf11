"""The runtime's errors, translated once at its boundary (docker.py): no docker or requests
exception leaves an implementation.

    RuntimeFailure      anything else the runtime refused (a bug, a conflict)
    ├── NotFound        no such container (removed meanwhile)
    ├── Unavailable     the runtime does not answer (dockerd down or restarting): retry later
    └── StartFailed     a container could not be created or started; `reason` is what a pod's
        │               status reports (CreateContainerError, RunContainerError,
        │               CreateContainerConfigError…), as kubelet words it
        └── ImageMissing  the image is absent and may not or could not be pulled
                          (ErrImageNeverPull, ErrImagePull)
"""

from __future__ import annotations


class RuntimeFailure(Exception):
    pass


class NotFound(RuntimeFailure):
    pass


class Unavailable(RuntimeFailure):
    pass


class StartFailed(RuntimeFailure):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message


class ImageMissing(StartFailed):
    pass
