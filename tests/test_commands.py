"""The console scripts exist; the ones whose issues have not landed say so and exit 2."""

from __future__ import annotations

from click.testing import CliRunner

from lab.cli import main as lab_main
from node_agent.main import main as agent_main
from orchestrator.cli.main import main as orchctl_main
from orchestrator.main import main as orchestrator_main


def test_orchctl_says_it_is_not_implemented_yet_and_exits_2():
    result = CliRunner().invoke(orchctl_main, [])
    assert result.exit_code == 2
    assert "not implemented yet" in result.output


def test_the_agent_offers_run():
    result = CliRunner().invoke(agent_main, ["--help"])
    assert result.exit_code == 0 and "run" in result.output


def test_lab_help_lists_every_subcommand():
    result = CliRunner().invoke(lab_main, ["--help"])
    assert result.exit_code == 0
    for sub in ("up", "down", "status", "exec", "kill", "start", "partition", "heal", "inventory"):
        assert f"  {sub} " in result.output


def test_the_master_offers_serve_and_init_pki():
    result = CliRunner().invoke(orchestrator_main, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output and "init-pki" in result.output
