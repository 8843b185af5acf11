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


def test_init_pki_writes_etcds_credentials_for_the_members_named(tmp_path):
    result = CliRunner().invoke(orchestrator_main, [
        "init-pki", "--dir", str(tmp_path), "--node", "n1", "--etcd-member", "n1=10.0.0.1"])
    assert result.exit_code == 0, result.output
    for name in ("etcd-ca.crt", "etcd-member-n1.key", "apiserver-etcd-client.crt"):
        assert f"{name}: {tmp_path / name}" in result.output


def test_init_pki_refuses_an_etcd_member_without_an_address(tmp_path):
    result = CliRunner().invoke(orchestrator_main, [
        "init-pki", "--dir", str(tmp_path), "--etcd-member", "n1"])
    assert result.exit_code == 2 and "'n1': expected NAME=ADDRESS" in result.output
    assert not (tmp_path / "ca.crt").exists()  # nothing half-written


def test_serve_wants_all_three_etcd_tls_files_or_none(tmp_path):
    ca = tmp_path / "etcd-ca.crt"
    ca.write_text("x")
    result = CliRunner().invoke(orchestrator_main, [
        "serve", "--etcd-servers", "https://10.0.0.1:2379", "--etcd-cafile", str(ca),
        "--tls-cert-file", str(ca), "--tls-private-key-file", str(ca),
        "--token-auth-file", str(ca)])
    assert result.exit_code == 2 and "go together" in result.output


def test_serve_refuses_an_https_endpoint_without_etcd_tls_files(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    result = CliRunner().invoke(orchestrator_main, [
        "serve", "--etcd-servers", "https://10.0.0.1:2379", "--tls-cert-file", str(f),
        "--tls-private-key-file", str(f), "--token-auth-file", str(f)])
    assert result.exit_code == 2
    assert "needs etcd's CA and a client certificate" in result.output
