"""The console scripts exist and offer their commands."""

from __future__ import annotations

from click.testing import CliRunner

from lab.cli import main as lab_main
from node_agent.main import main as agent_main
from orchestrator.cli.main import cli as orchctl_cli
from orchestrator.main import main as orchestrator_main


def test_orchctl_help_lists_the_kubectl_verbs():
    result = CliRunner().invoke(orchctl_cli, ["--help"])
    assert result.exit_code == 0
    for verb in ("apply", "get", "describe", "delete", "logs", "exec", "scale", "rollout", "set",
                 "top", "cordon", "drain", "label", "annotate", "config", "completion"):
        assert f"  {verb} " in result.output


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
