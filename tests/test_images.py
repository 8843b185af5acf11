"""Image sources: the static-binary check and the digest that decides rebuilds."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from lab.images import PAUSE, WEB, images_root, is_static_elf, sources_digest


def _elf(path, program_header_types):
    """A minimal 64-bit little-endian ELF header followed by its program header table."""
    phoff, phentsize = 64, 56
    header = bytearray(64)
    header[:5] = b"\x7fELF\x02"
    struct.pack_into("<Q", header, 0x20, phoff)
    struct.pack_into("<HH", header, 0x36, phentsize, len(program_header_types))
    table = b"".join(struct.pack("<I", t) + bytes(phentsize - 4) for t in program_header_types)
    path.write_bytes(bytes(header) + table)
    return path


@pytest.mark.parametrize("types,static", [
    ([1, 1, 4], True),  # LOAD, LOAD, NOTE
    ([6, 3, 1], False),  # PHDR, INTERP, LOAD: dynamically linked
], ids=["static", "dynamic"])
def test_only_binaries_without_an_interpreter_count_as_static(tmp_path, types, static):
    assert is_static_elf(_elf(tmp_path / "bin", types)) is static


def test_a_non_elf_file_is_not_static(tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    assert not is_static_elf(script)


def test_the_digest_changes_with_content_mode_and_busybox_and_only_then(tmp_path):
    root = tmp_path / "images"
    (root / "web").mkdir(parents=True)
    dockerfile = root / "web" / "Dockerfile"
    dockerfile.write_text("FROM scratch\n")
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"v1")
    first = sources_digest(WEB, root, busybox)
    assert sources_digest(WEB, root, busybox) == first
    dockerfile.write_text("FROM scratch\nENV A=1\n")
    second = sources_digest(WEB, root, busybox)
    dockerfile.chmod(0o755)
    third = sources_digest(WEB, root, busybox)
    busybox.write_bytes(b"v2")
    fourth = sources_digest(WEB, root, busybox)
    assert len({first, second, third, fourth}) == 4


def test_the_project_ships_sources_for_every_image():
    for spec in (PAUSE, WEB):
        assert (images_root() / spec.source_dir / "Dockerfile").is_file()


# --- the Debian base images (lab.base_images): recipes, digests and the archive layout ---

def _base_root(tmp_path):
    import shutil
    root = tmp_path / "images"
    shutil.copytree(images_root() / "debian", root / "debian")
    return root


def test_base_image_digest_follows_the_recipe_and_its_files(tmp_path):
    import dataclasses

    from lab.base_images import REDIS, recipe_digest
    root = _base_root(tmp_path)
    before = recipe_digest(REDIS, root)
    assert recipe_digest(REDIS, root) == before
    assert recipe_digest(dataclasses.replace(REDIS, packages=("redis-server", "procps")),
                         root) != before
    (root / "debian" / "redis" / "docker-entrypoint.sh").write_text("#!/bin/sh\nexec \"$@\"\n")
    assert recipe_digest(REDIS, root) != before


def test_mmdebstrap_is_asked_for_the_packages_files_and_cache(tmp_path):
    from lab.base_images import MIRRORS, NGINX, SUITE, mmdebstrap_argv
    root = _base_root(tmp_path)
    argv = mmdebstrap_argv(NGINX, root, tmp_path / "rootfs.tar", tmp_path / "apt")
    assert argv[0] == "mmdebstrap" and "--variant=minbase" in argv
    assert "--include=nginx" in argv
    assert argv[-len(MIRRORS) - 2:] == [SUITE, str(tmp_path / "rootfs.tar"), *MIRRORS]
    assert f"--setup-hook=sync-in {tmp_path / 'apt'} /var/cache/apt/archives/" in argv
    assert f"--customize-hook=sync-out /var/cache/apt/archives {tmp_path / 'apt'}" in argv
    copy = [a for a in argv if a.startswith("--customize-hook=copy-in")]
    assert copy == [f"--customize-hook=copy-in {root / 'debian/nginx/default.conf'} "
                    "/etc/nginx/conf.d"]
    assert "--customize-hook=chroot \"$1\" sh -ec 'rm -f /etc/nginx/sites-enabled/default'" in argv


def test_a_file_must_keep_its_name(tmp_path):
    import dataclasses

    from lab.base_images import NGINX, mmdebstrap_argv
    from lab.system import LabError
    renamed = dataclasses.replace(NGINX, files=(("default.conf", "/etc/nginx/site.conf"),))
    with pytest.raises(LabError, match="must keep its name"):
        mmdebstrap_argv(renamed, _base_root(tmp_path), tmp_path / "r.tar", tmp_path / "apt")


def test_the_archive_is_a_one_layer_docker_save_image(tmp_path):
    import hashlib
    import io
    import json
    import tarfile

    from lab.base_images import REDIS, SOURCES_LABEL, write_image_archive
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as t:
        data = b"hello\n"
        info = tarfile.TarInfo("etc/hello")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    out = tmp_path / "image.tar"
    write_image_archive(REDIS, "d" * 64, rootfs, out)
    layer_id = hashlib.sha256(rootfs.read_bytes()).hexdigest()
    with tarfile.open(out) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        assert manifest == [{"Config": manifest[0]["Config"], "RepoTags": ["orch/redis:7.0"],
                             "Layers": [f"{layer_id}/layer.tar"]}]
        raw = archive.extractfile(manifest[0]["Config"]).read()
        assert manifest[0]["Config"] == hashlib.sha256(raw).hexdigest() + ".json"
        assert archive.extractfile(f"{layer_id}/layer.tar").read() == rootfs.read_bytes()
    config = json.loads(raw)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [f"sha256:{layer_id}"]}
    c = config["config"]
    assert c["Entrypoint"] == ["/usr/local/bin/docker-entrypoint.sh"]
    assert c["Cmd"] == ["redis-server"] and c["User"] == "redis" and c["WorkingDir"] == "/data"
    assert c["ExposedPorts"] == {"6379/tcp": {}} and c["Volumes"] == {"/data": {}}
    assert c["Labels"] == {SOURCES_LABEL: "d" * 64}
    assert c["Env"][0].startswith("PATH=/usr/local/sbin:")


def test_base_images_are_found_by_tag():
    from lab.base_images import PYTHON, by_tag
    from lab.system import LabError
    assert by_tag("orch/python:3.11") is PYTHON
    with pytest.raises(LabError, match="not a base image"):
        by_tag("orch/python:2")


@pytest.mark.parametrize("args,runs", [
    ([], "redis-server --protected-mode no"),
    (["--appendonly", "yes"], "redis-server --appendonly yes --protected-mode no"),
    (["redis-server", "--protected-mode", "yes"], "redis-server --protected-mode yes"),
    (["/etc/redis.conf"], "redis-server /etc/redis.conf"),
    (["redis-cli", "ping"], "redis-cli ping"),
])
def test_the_redis_entrypoint_passes_arguments_as_the_usual_image_does(tmp_path, args, runs):
    import subprocess
    for program in ("redis-server", "redis-cli"):
        fake = tmp_path / program
        fake.write_text(f'#!/bin/sh\necho {program} "$@"\n')
        fake.chmod(0o755)
    entrypoint = images_root() / "debian" / "redis" / "docker-entrypoint.sh"
    done = subprocess.run(["sh", str(entrypoint), *(args or ["redis-server"])],
                          capture_output=True, text=True, check=True,
                          env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert done.stdout.strip() == runs


def test_a_build_killed_half_way_leaves_nothing_the_next_keeps(tmp_path, monkeypatch):
    import subprocess

    from lab import base_images
    root = _base_root(tmp_path)
    cache = tmp_path / "cache"
    (cache / "orch-redis-abandoned").mkdir(parents=True)
    (cache / "orch-redis-abandoned" / "rootfs.tar").write_bytes(b"half")
    (cache / "orch-nginx-other").mkdir()  # another image's: not this build's to remove

    def fake_mmdebstrap(argv, **kwargs):
        import tarfile
        with tarfile.open(argv[-len(base_images.MIRRORS) - 1], "w"):
            pass
        return subprocess.CompletedProcess(argv, 0, "", "")
    monkeypatch.setattr(base_images.shutil, "which", lambda _: "/usr/bin/mmdebstrap")
    monkeypatch.setattr(base_images.subprocess, "run", fake_mmdebstrap)
    out = base_images.build_archive(base_images.REDIS, root, cache, tmp_path / "apt")
    assert out.exists() and out.parent == cache
    assert not (cache / "orch-redis-abandoned").exists()
    assert (cache / "orch-nginx-other").exists()
    # built once: a second call finds the archive and runs nothing
    monkeypatch.setattr(base_images.subprocess, "run", None)
    assert base_images.build_archive(base_images.REDIS, root, cache, tmp_path / "apt") == out


def test_an_image_of_the_projects_code_carries_its_packages_and_their_digest(tmp_path):
    from lab.base_images import (IMAGE_PYTHON_PATH, INGRESS_NGINX, mmdebstrap_argv,
                                 python_package_files, recipe_digest)
    argv = mmdebstrap_argv(INGRESS_NGINX, Path("images"), tmp_path / "rootfs.tar",
                           tmp_path / "apt")
    copied = [a.split()[1] for a in argv if a.startswith("--customize-hook=copy-in")]
    assert any(c.endswith("/kube") for c in copied) and \
        any(c.endswith("/pydantic_core") for c in copied)
    assert all(a.split()[-1] == IMAGE_PYTHON_PATH for a in argv
               if a.startswith("--customize-hook=copy-in"))
    files = python_package_files("ingress_controller")
    assert any(f.name == "nginx.py" for f in files)
    assert not any("__pycache__" in f.parts for f in files)
    # the digest follows the code: any change to a copied file rebuilds the image
    assert recipe_digest(INGRESS_NGINX, Path("images")) == \
        recipe_digest(INGRESS_NGINX, Path("images"))
