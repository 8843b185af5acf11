"""Image sources: the static-binary check and the digest that decides rebuilds."""

from __future__ import annotations

import struct

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
