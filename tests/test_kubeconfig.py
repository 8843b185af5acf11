"""kubeconfig files (kube/kubeconfig.py): the shape kubectl reads, written privately."""

from __future__ import annotations

import stat

import yaml

from kube import kubeconfig


def test_a_kubeconfig_embeds_the_ca_names_the_token_by_path_and_is_private(tmp_path):
    config = kubeconfig.render("lab", "https://127.0.0.1:6443", b"PEM", "/pki/admin.token",
                               namespace="shop")
    path = tmp_path / "kubeconfig"
    kubeconfig.write(path, config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    read = yaml.safe_load(path.read_text())
    assert read["current-context"] == "lab"
    [cluster], [user], [context] = read["clusters"], read["users"], read["contexts"]
    assert cluster["cluster"] == {"server": "https://127.0.0.1:6443",
                                  "certificate-authority-data": "UEVN"}
    assert user["user"] == {"tokenFile": "/pki/admin.token"}  # not the token itself
    assert context["context"] == {"cluster": "lab", "user": "lab-admin", "namespace": "shop"}
