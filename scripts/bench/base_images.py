"""How long the Debian base images (lab/base_images.py) take to build: from nothing (empty
package and image caches, every package downloaded from the Debian mirror), from the package
cache (a changed recipe: packages already downloaded), and from the image cache (what a re-run
of `scripts/lab up` pays before loading). Uses caches of its own under a temporary directory,
so the lab's caches are left alone. Needs root (mmdebstrap's root mode) and the Debian mirror.

    .venv/bin/python scripts/bench/base_images.py [--image orch/redis:7.0 ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from lab import base_images
from lab.images import images_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", action="append", help="a base image's tag (default: all)")
    args = parser.parse_args()
    chosen = [base_images.by_tag(t) for t in args.image] if args.image else base_images.BASE_IMAGES
    root = images_root()
    with tempfile.TemporaryDirectory(prefix="orch-bench-images-", dir="/var/tmp") as tmp:
        image_cache, apt_cache = Path(tmp) / "images", Path(tmp) / "apt"
        rows = []
        for image in chosen:
            figures = []
            for stage in ("nothing", "packages", "image"):
                if stage == "packages":
                    for tar in image_cache.glob(f"{image.name}-*.tar"):
                        tar.unlink()
                started = time.monotonic()
                archive = base_images.build_archive(image, root, image_cache, apt_cache)
                figures.append(time.monotonic() - started)
            rows.append((image.tag, *figures, archive.stat().st_size / 2**20))
        print(f"{'IMAGE':<18} {'FROM NOTHING':>13} {'FROM PACKAGES':>14} {'FROM IMAGE':>11} "
              f"{'SIZE':>9}")
        for tag, nothing, packages, cached, size in rows:
            print(f"{tag:<18} {nothing:>11.1f} s {packages:>12.1f} s {cached:>9.3f} s "
                  f"{size:>6.0f} MiB")
        total = [sum(r[i] for r in rows) for i in (1, 2, 3)]
        print(f"{'all':<18} {total[0]:>11.1f} s {total[1]:>12.1f} s {total[2]:>9.3f} s")


if __name__ == "__main__":
    main()
