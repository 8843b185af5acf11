"""The layers as a process sees them: starting the node agent or orchctl loads no etcd client,
store, API server, controller or scheduler module (import-linter holds the same statically:
setup.cfg, scripts/check)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CONTROL_PLANE = ("pyetcd", "grpc", "orchestrator.store", "orchestrator.api",
                 "orchestrator.controllers", "orchestrator.scheduler", "orchestrator.leader",
                 "orchestrator.controlplane")


@pytest.mark.parametrize("entry", ["node_agent.main", "orchestrator.cli.main"])
def test_an_entry_point_outside_the_master_loads_no_control_plane_module(entry):
    out = subprocess.run([sys.executable, "-c", f"import json, sys, {entry}; "
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    assert entry in loaded
    assert [m for m in loaded if m.startswith(CONTROL_PLANE)] == []
