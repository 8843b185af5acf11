"""The console scripts exist; the ones whose issues have not landed say so and exit 2."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from lab.cli import main as lab_main
from node_agent.main import main as agent_main
from orchestrator.cli.main import main as orchctl_main
from orchestrator.main import main as orchestrator_main


@pytest.mark.parametrize("command,name", [
    (agent_main, "node-agent"), (orchctl_main, "orchctl"),
], ids=["node-agent", "orchctl"])
def test_not_yet_implemented_commands_say_so_and_exit_2(command, name):
    result = CliRunner().invoke(command, [])
    assert result.exit_code == 2
    assert "not implemented yet" in result.output


def test_lab_help_lists_every_subcommand():
    result = CliRunner().invoke(lab_main, ["--help"])
    assert result.exit_code == 0
    for sub in ("up", "down", "status", "exec", "kill", "start", "partition", "heal", "inventory"):
        assert f"  {sub} " in result.output


def test_the_master_offers_serve_and_init_pki():
    result = CliRunner().invoke(orchestrator_main, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output and "init-pki" in result.output
