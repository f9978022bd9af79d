"""computer-vision-pipeline off the cloud: the shapes generator, the multitask entry point
(train, distil, serve) and the lab end to end on the local target.

The generator tests run everywhere; the entry-point tests need PyTorch
(`pip install 'labctl[torch]'`) and are skipped without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labctl import datagen
from labctl.datagen import shapes
from labctl.errors import UsageError

GENERATOR = "synthetic-shapes-detection"


# --------------------------------------------------------------------------- the generator


def test_shapes_generator_writes_images_classes_and_tight_boxes(tmp_path: Path) -> None:
    schema = datagen.generate(GENERATOR, rows=200, seed=3, out_dir=tmp_path)
    assert schema["train_rows"] == 160 and schema["validation_rows"] == 40
    assert schema["classes"] == ["circle", "square", "triangle", "diamond"]
    assert schema["image_size"] == 32 and schema["content_type"] == "application/x-npz"
    assert json.loads((tmp_path / "schema.json").read_text()) == schema
    with np.load(tmp_path / "train" / "images.npz") as train:
        x, y, boxes = train["x"], train["y"], train["boxes"]
    assert x.shape == (160, 32, 32, 3) and x.dtype == np.uint8
    assert boxes.shape == (160, 4) and y.shape == (160,)
    assert ((boxes >= 0) & (boxes <= 1)).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    # balanced classes over the whole set
    with np.load(tmp_path / "validation" / "images.npz") as val:
        counts = np.bincount(np.concatenate([y, val["y"]]), minlength=4)
    assert counts.tolist() == [50, 50, 50, 50]
    # the raw annotations: one line per image, boxes in pixels matching the channel's fractions
    lines = (tmp_path / "raw" / "annotations.csv").read_text().splitlines()
    assert lines[0] == "path,label,xmin,ymin,xmax,ymax" and len(lines) == 201
    assert (tmp_path / "raw" / "images" / "shape_000000.png").read_bytes()[:4] == b"\x89PNG"


def test_shapes_box_is_the_tight_box_of_a_shape_that_stands_out() -> None:
    rng = np.random.default_rng(0)
    for kind in range(len(shapes.CLASSES)):
        image, label, box = shapes.draw(32, rng, kind)
        assert label == kind
        x0, y0, x1, y1 = box.astype(int)
        pixels = image.astype(float)
        colour = pixels[(y0 + y1) // 2, (x0 + x1) // 2]  # the centre of the box is the shape's
        near = np.linalg.norm(pixels - colour, axis=2) < 45
        # every edge of the box touches the shape; nothing of its colour lies outside the box
        assert near[y0, x0:x1].any() and near[y1 - 1, x0:x1].any()
        assert near[y0:y1, x0].any() and near[y0:y1, x1 - 1].any()
        outside = np.ones((32, 32), bool)
        outside[y0:y1, x0:x1] = False
        assert not near[outside].any(), kind


def test_shapes_generator_is_deterministic_by_seed(tmp_path: Path) -> None:
    runs = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        datagen.generate(GENERATOR, rows=40, seed=seed, out_dir=tmp_path / name, write_png=False)
        with np.load(tmp_path / name / "train" / "images.npz") as data:
            runs.append({k: data[k] for k in ("x", "y", "boxes")})
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not np.array_equal(runs[0]["x"], runs[2]["x"])
    assert not (tmp_path / "a" / "raw" / "annotations.csv").exists()


def test_shapes_generator_refuses_unknown_options(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="takes no options"):
        datagen.generate(GENERATOR, rows=20, seed=0, out_dir=tmp_path, colours=3)
