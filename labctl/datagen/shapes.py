"""Images of simple shapes with a class and a bounding box (`synthetic-shapes-detection`).

`rows` is the number of images. Each is `size` x `size` RGB (default 32, uint8): a background
(a linear gradient between two random colours at a random angle, plus a coarse blotch texture
and pixel noise) and one shape (circle, square, triangle or diamond) of a random size, position
and colour kept apart from every background pixel's. Its box is the tight box of the shape's pixels.

Written under `out_dir`:

- `raw/images/shape_<id>.png` and `raw/annotations.csv` (path, label, xmin, ymin, xmax, ymax in
  pixels, max exclusive), as detection datasets ship their labels;
- `train/images.npz`, `validation/images.npz`: `x` (n, size, size, 3) uint8, `y` (n,) class
  ids, `boxes` (n, 4) float32 (xmin, ymin, xmax, ymax) as fractions of the image side;
- `schema.json`, with `classes`, `image_size` and `box_format`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from labctl.datagen import refuse_options
from labctl.datagen.images import png_bytes

CLASSES = ("circle", "square", "triangle", "diamond")
LABEL = "shape"


def _mask(kind: int, size: int, cx: float, cy: float, r: float) -> np.ndarray:
    """The pixels (size, size) bool of a shape of half-extent `r` centred on (cx, cy)."""
    centres = np.arange(size, dtype=np.float32) + 0.5
    y, x = np.meshgrid(centres, centres, indexing="ij")
    dx, dy = x - cx, y - cy
    if kind == 0:
        return dx**2 + dy**2 <= r**2
    if kind == 1:
        return (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    if kind == 2:  # apex up: half-width grows from 0 at the top to r at the bottom
        return (np.abs(dy) <= r) & (np.abs(dx) <= (dy + r) / 2)
    return np.abs(dx) + np.abs(dy) <= r


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) float in [0, 1]: a two-colour gradient with a coarse texture."""
    a, b = rng.uniform(0.0, 1.0, (2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    y, x = np.meshgrid(grid, grid, indexing="ij")
    t = np.clip((np.cos(angle) * (x - 0.5) + np.sin(angle) * (y - 0.5)) + 0.5, 0, 1)
    image = a + (b - a) * t[..., None]
    coarse = rng.normal(0, 0.08, (4, 4, 1))
    image += np.kron(coarse, np.ones((size // 4 + 1, size // 4 + 1, 1)))[:size, :size]
    return image


def _colour(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A shape colour at least 0.35 (RGB distance) from every pixel of the background."""
    pixels = background.reshape(-1, 3)
    best, margin = pixels.mean(axis=0), 0.0
    for _ in range(30):
        colour = rng.uniform(0.0, 1.0, 3)
        distance = float(np.linalg.norm(pixels - colour, axis=1).min())
        if distance >= 0.35:
            return colour
        if distance > margin:
            best, margin = colour, distance
    return best  # rare (a background spanning the colour cube): the most distinct colour tried


def draw(
    size: int, rng: np.random.Generator, kind: int | None = None
) -> tuple[np.ndarray, int, np.ndarray]:
    """One image: (uint8 (size, size, 3), class id, box in pixels (xmin, ymin, xmax, ymax))."""
    kind = int(rng.integers(len(CLASSES))) if kind is None else kind
    r = rng.uniform(0.15, 0.35) * size
    cx, cy = rng.uniform(r, size - r, 2)
    mask = _mask(kind, size, cx, cy, r)
    background = _background(size, rng)
    image = np.where(mask[..., None], _colour(background, rng), background)
    image += rng.normal(0.0, 0.03, image.shape)
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)
    return np.clip(image * 255.0, 0, 255).astype(np.uint8), kind, box


def generate(
    name: str,
    *,
    rows: int,
    seed: int,
    out_dir: Path,
    validation_fraction: float = 0.2,
    size: int = 32,
    write_png: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """Write raw/, train/, validation/ and schema.json; return the schema."""
    refuse_options(name, options)
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    rng = np.random.default_rng(seed)
    kinds = np.arange(rows) % len(CLASSES)  # balanced classes, in a seeded order
    rng.shuffle(kinds)
    images = np.empty((rows, size, size, 3), dtype=np.uint8)
    boxes = np.empty((rows, 4), dtype=np.float32)
    for i, kind in enumerate(kinds):
        images[i], _, boxes[i] = draw(size, rng, int(kind))

    out_dir = Path(out_dir)
    for sub in ("raw", "train", "validation"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    if write_png:
        (out_dir / "raw" / "images").mkdir(exist_ok=True)
        lines = ["path,label,xmin,ymin,xmax,ymax"]
        for i in range(rows):
            rel = f"images/shape_{i:06d}.png"
            (out_dir / "raw" / rel).write_bytes(png_bytes(images[i]))
            lines.append(f"{rel},{CLASSES[kinds[i]]},{','.join(str(int(v)) for v in boxes[i])}")
        (out_dir / "raw" / "annotations.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    order = rng.permutation(rows)
    k = round(rows * validation_fraction)
    split = {"validation": np.sort(order[:k]), "train": np.sort(order[k:])}
    for sub, idx in split.items():
        np.savez_compressed(
            out_dir / sub / "images.npz", x=images[idx], y=kinds[idx], boxes=boxes[idx] / size
        )
    schema: dict[str, Any] = {
        "generator": name,
        "rows": rows,
        "seed": seed,
        "label": LABEL,
        "features": [f"pixels ({size}x{size}x3, uint8)"],
        "content_type": "application/x-npz",
        "files": {
            "raw": "raw/images/",
            "labels": "raw/annotations.csv" if write_png else None,
            "train": "train/images.npz",
            "validation": "validation/images.npz",
        },
        "train_rows": len(split["train"]),
        "validation_rows": len(split["validation"]),
        "classes": list(CLASSES),
        "image_size": size,
        "box_format": "xmin, ymin, xmax, ymax as fractions of the image side (npz); "
        "pixels, max exclusive (annotations.csv)",
    }
    (out_dir / "schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    return schema
