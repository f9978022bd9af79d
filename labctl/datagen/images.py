"""Small synthetic images in up to 120 classes, laid out like Stanford Dogs (`synthetic-images`).

`rows` is the number of images (at least 2 per class). Each class is a smooth prototype (an
oriented colour grating with a class-specific frequency, angle, phase and tint); an image is its
class prototype, shifted by a pixel or two, with its brightness jittered and pixel noise added.
Images are `size` x `size` RGB (default 32), uint8.

Written under `out_dir`:

- `raw/Images/<nnn>-<breed>/<breed>_<id>.png`: one folder per class, as Stanford Dogs is
  (PNG written with zlib, no imaging package needed), and `raw/labels.csv` (path, label);
- `train/images.npz`, `validation/images.npz`: `x` (n, size, size, 3) uint8 and `y` (n,) int,
  a split stratified on the class;
- `schema.json`, with `classes` (the breed names) and `image_size`.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from labctl.datagen import refuse_options

# fmt: off
BREEDS = (
    "chihuahua", "japanese_spaniel", "maltese", "pekinese", "shih_tzu", "blenheim_spaniel",
    "papillon", "toy_terrier", "rhodesian_ridgeback", "afghan_hound", "basset", "beagle",
    "bloodhound", "bluetick", "black_and_tan_coonhound", "walker_hound", "english_foxhound",
    "redbone", "borzoi", "irish_wolfhound", "italian_greyhound", "whippet", "ibizan_hound",
    "norwegian_elkhound", "otterhound", "saluki", "scottish_deerhound", "weimaraner",
    "staffordshire_bullterrier", "american_staffordshire_terrier", "bedlington_terrier",
    "border_terrier", "kerry_blue_terrier", "irish_terrier", "norfolk_terrier", "norwich_terrier",
    "yorkshire_terrier", "wire_haired_fox_terrier", "lakeland_terrier", "sealyham_terrier",
    "airedale", "cairn", "australian_terrier", "dandie_dinmont", "boston_bull",
    "miniature_schnauzer", "giant_schnauzer", "standard_schnauzer", "scotch_terrier",
    "tibetan_terrier", "silky_terrier", "soft_coated_wheaten_terrier",
    "west_highland_white_terrier", "lhasa", "flat_coated_retriever", "curly_coated_retriever",
    "golden_retriever", "labrador_retriever", "chesapeake_bay_retriever",
    "german_short_haired_pointer", "vizsla", "english_setter", "irish_setter", "gordon_setter",
    "brittany_spaniel", "clumber", "english_springer", "welsh_springer_spaniel", "cocker_spaniel",
    "sussex_spaniel", "irish_water_spaniel", "kuvasz", "schipperke", "groenendael", "malinois",
    "briard", "kelpie", "komondor", "old_english_sheepdog", "shetland_sheepdog", "collie",
    "border_collie", "bouvier_des_flandres", "rottweiler", "german_shepherd", "doberman",
    "miniature_pinscher", "greater_swiss_mountain_dog", "bernese_mountain_dog", "appenzeller",
    "entlebucher", "boxer", "bull_mastiff", "tibetan_mastiff", "french_bulldog", "great_dane",
    "saint_bernard", "eskimo_dog", "malamute", "siberian_husky", "affenpinscher", "basenji", "pug",
    "leonberg", "newfoundland", "great_pyrenees", "samoyed", "pomeranian", "chow", "keeshond",
    "brabancon_griffon", "pembroke", "cardigan", "toy_poodle", "miniature_poodle",
    "standard_poodle", "mexican_hairless", "dingo", "dhole", "african_hunting_dog",
)
# fmt: on
assert len(BREEDS) == 120


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB uint8 (h, w, 3) array as PNG bytes (8-bit truecolour, no filtering)."""
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def _prototypes(classes: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(classes, size+4, size+4, 3) float prototypes in [0, 1], with a 2-pixel margin to shift."""
    grid = np.arange(size + 4, dtype=np.float32) / size
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    angle = rng.uniform(0, np.pi, (classes, 2))
    freq = rng.uniform(1.0, 4.0, (classes, 2))
    phase = rng.uniform(0, 2 * np.pi, (classes, 2))
    tint = rng.uniform(0.15, 0.85, (classes, 3))
    waves = np.zeros((classes, size + 4, size + 4), dtype=np.float32)
    for k in range(2):
        proj = np.cos(angle[:, k, None, None]) * xx + np.sin(angle[:, k, None, None]) * yy
        waves += np.sin(2 * np.pi * freq[:, k, None, None] * proj + phase[:, k, None, None])
    mix = rng.uniform(-0.5, 0.5, (classes, 3)).astype(np.float32)
    protos = tint[:, None, None, :] + 0.18 * waves[..., None] * (1 + mix[:, None, None, :])
    return np.clip(protos, 0.0, 1.0).astype(np.float32)


def generate(
    name: str,
    *,
    rows: int,
    seed: int,
    out_dir: Path,
    validation_fraction: float = 0.2,
    classes: int = 120,
    size: int = 32,
    write_png: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """Write raw/, train/, validation/ and schema.json; return the schema."""
    refuse_options(name, options)
    classes = max(2, min(len(BREEDS), classes, rows // 2))
    rng = np.random.default_rng(seed)
    protos = _prototypes(classes, size, rng)
    labels = np.arange(rows) % classes
    rng.shuffle(labels)
    dy, dx = rng.integers(0, 5, rows), rng.integers(0, 5, rows)
    idx = np.arange(size)
    crops = protos[
        labels[:, None, None],
        (dy[:, None] + idx)[:, :, None],
        (dx[:, None] + idx)[:, None, :],
    ]
    gain = rng.uniform(0.85, 1.15, (rows, 1, 1, 1)).astype(np.float32)
    noise = rng.normal(0.0, 0.06, crops.shape).astype(np.float32)
    images = np.clip((crops * gain + noise) * 255.0, 0, 255).astype(np.uint8)

    # stratified split: the first ceil(f * n_c) shuffled images of each class go to validation
    order = rng.permutation(rows)
    by_class = order[np.argsort(labels[order], kind="stable")]
    counts = np.bincount(labels, minlength=classes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(rows, dtype=np.int64)
    rank[by_class] = np.arange(rows) - np.repeat(starts, counts)
    n_val = np.maximum(1, np.rint(counts * validation_fraction)).astype(np.int64)
    is_val = rank < n_val[labels]

    out_dir = Path(out_dir)
    for sub in ("raw", "train", "validation"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    names = [f"n{i:03d}-{BREEDS[i]}" for i in range(classes)]
    paths = []
    if write_png:
        for c in range(classes):
            (out_dir / "raw" / "Images" / names[c]).mkdir(parents=True, exist_ok=True)
        for i in range(rows):
            rel = f"Images/{names[labels[i]]}/{BREEDS[labels[i]]}_{i:06d}.png"
            (out_dir / "raw" / rel).write_bytes(png_bytes(images[i]))
            paths.append(rel)
        lines = [f"{p},{BREEDS[labels[i]]}" for i, p in enumerate(paths)]
        (out_dir / "raw" / "labels.csv").write_text(
            "path,label\n" + "\n".join(lines) + "\n", encoding="utf-8"
        )
    for sub, mask in (("train", ~is_val), ("validation", is_val)):
        np.savez_compressed(out_dir / sub / "images.npz", x=images[mask], y=labels[mask])

    schema: dict[str, Any] = {
        "generator": name,
        "rows": rows,
        "seed": seed,
        "label": "breed",
        "features": [f"pixels ({size}x{size}x3, uint8)"],
        "content_type": "application/x-npz",
        "files": {
            "raw": "raw/Images/",
            "labels": "raw/labels.csv" if write_png else None,
            "train": "train/images.npz",
            "validation": "validation/images.npz",
        },
        "train_rows": int((~is_val).sum()),
        "validation_rows": int(is_val.sum()),
        "classes": [BREEDS[c] for c in range(classes)],
        "image_size": size,
    }
    (out_dir / "schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    return schema
