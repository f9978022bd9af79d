"""The script of a `sagemaker-processing` step's job (uploaded to `code/<job>/`, run in the
PyTorch container): each instance gets its shard of the input files (ShardedByS3Key) and writes
them to the output with, for images, one augmented copy per name in `--augmentations` (flip,
random-resized-crop, color-jitter, cutout; Pillow, in the container). Other files are copied.
Standard library and Pillow only: it also runs on this machine for the tests.
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

INPUT = "/opt/ml/processing/input/data"
OUTPUT = "/opt/ml/processing/output"
IMAGES = (".png", ".jpg", ".jpeg")


def augment(image, name: str, rng: random.Random):  # type: ignore[no-untyped-def]
    """One augmentation of a PIL image (a copy)."""
    from PIL import ImageDraw, ImageEnhance, ImageOps

    w, h = image.size
    if name == "flip":
        return ImageOps.mirror(image)
    if name == "random-resized-crop":
        cw, ch = max(1, int(w * rng.uniform(0.6, 1.0))), max(1, int(h * rng.uniform(0.6, 1.0)))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        return image.crop((x, y, x + cw, y + ch)).resize((w, h))
    if name == "color-jitter":
        out = ImageEnhance.Brightness(image).enhance(rng.uniform(0.7, 1.3))
        return ImageEnhance.Contrast(out).enhance(rng.uniform(0.7, 1.3))
    if name == "cutout":
        out = image.copy()
        s = max(1, min(w, h) // 4)
        x, y = rng.randint(0, w - s), rng.randint(0, h - s)
        ImageDraw.Draw(out).rectangle((x, y, x + s, y + s), fill=0)
        return out
    raise ValueError(f"unknown augmentation '{name}'")


def run(src: Path, dst: Path, augmentations: list[str], seed: int = 0) -> dict[str, int]:
    """Copy every file of `src` to `dst` (same relative path), plus the augmented images."""
    rng = random.Random(seed)
    counts = {"files": 0, "augmented": 0}
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        out = dst / path.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out)
        counts["files"] += 1
        if path.suffix.lower() not in IMAGES or not augmentations:
            continue
        from PIL import Image

        with Image.open(path) as image:
            for name in augmentations:
                augment(image.convert("RGB"), name, rng).save(
                    out.with_name(f"{out.stem}.{name}{out.suffix}")
                )
                counts["augmented"] += 1
    return counts


def main() -> None:  # pragma: no cover - runs in the processing container
    parser = argparse.ArgumentParser()
    parser.add_argument("--augmentations", default="")
    args = parser.parse_args()
    names = [a for a in args.augmentations.split(",") if a]
    print(run(Path(INPUT), Path(OUTPUT), names))


if __name__ == "__main__":
    main()
