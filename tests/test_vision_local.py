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
LAB = "computer-vision-pipeline"


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


# --------------------------------------------------------------------------- the metric


def test_map_is_one_for_right_classes_and_boxes_and_zero_for_missed_boxes() -> None:
    from labctl.entrypoints.multitask_vision import iou, mean_average_precision

    y = np.array([0, 1, 1, 0])
    boxes = np.array([[0.1, 0.1, 0.5, 0.5]] * 4)
    proba = np.eye(2)[y] * 0.8 + 0.1
    assert mean_average_precision(y, boxes, proba, boxes) == pytest.approx(1.0)
    shifted = boxes + 0.3  # IoU 0.03: every detection misses
    assert iou(boxes, shifted)[0] == pytest.approx(0.01 / 0.31)
    assert mean_average_precision(y, boxes, proba, shifted) == 0.0
    # every class ranked wrongly: its 2 images come after the 2 others, precision 1/3 then 2/4;
    # interpolated, precision 2/4 over both halves of the recall
    assert mean_average_precision(y, boxes, proba[:, ::-1], boxes) == pytest.approx(0.5)


def test_multitask_loss_mixes_the_teacher_in_by_alpha() -> None:
    torch = pytest.importorskip("torch")
    from labctl.entrypoints.multitask_vision import multitask_loss

    gen = torch.Generator().manual_seed(0)
    logits, box = torch.randn(6, 4, generator=gen), torch.rand(6, 4, generator=gen)
    truth = (torch.tensor([0, 1, 2, 3, 0, 1]), torch.rand(6, 4, generator=gen))
    teacher = (torch.randn(6, 4, generator=gen), torch.rand(6, 4, generator=gen))
    plain = multitask_loss((logits, box), truth, box_weight=2.0)
    ce = torch.nn.functional.cross_entropy(logits, truth[0])
    l1 = (box - truth[1]).abs().mean()
    assert plain.item() == pytest.approx((ce + 2.0 * l1).item())
    # alpha 0: the teacher is ignored; alpha 1 with the teacher's own outputs: nothing to learn
    same = multitask_loss((logits, box), truth, box_weight=2.0, teacher=teacher, alpha=0.0)
    assert same.item() == pytest.approx(plain.item())
    copy = multitask_loss((logits, box), truth, box_weight=2.0, teacher=(logits, box), alpha=1.0)
    assert copy.item() == pytest.approx(0.0, abs=1e-6)
    # alpha 1 with another teacher: the distilled terms alone, T^2 x KL + box_weight x L1
    soft = multitask_loss(
        (logits, box), truth, box_weight=2.0, teacher=teacher, alpha=1.0, temperature=2.0
    )
    kl = torch.nn.functional.kl_div(
        torch.log_softmax(logits / 2, 1), torch.softmax(teacher[0] / 2, 1), reduction="batchmean"
    )
    expected = 4 * kl + 2.0 * (box - teacher[1]).abs().mean()
    assert soft.item() == pytest.approx(expected.item())


# --------------------------------------------------------------------------- the entry point


def run_job(data: Path, job: Path, hps: dict, count: int = 1, **extra: Path) -> tuple[int, str]:
    """Run the entry point as the local backend runs a job of `count` instances; (exit code,
    log)."""
    import os
    import subprocess

    from labctl.backends.local import training
    from labctl.entrypoints import contract

    channels = {c: data / c for c in ("train", "validation")} | extra
    env = contract.prepare_job_dir(job, channels, hps, instance_count=count)
    env["SM_NUM_CPUS"] = "1"  # small convolutions: one thread each, also on a busy machine
    proc = subprocess.run(
        training.command("labctl.entrypoints.multitask_vision", f"job-test-{job.name}", count),
        cwd=job,
        env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc.returncode, proc.stdout + proc.stderr


def metrics_of(log: str) -> list[tuple[str, float, int | None]]:
    from labctl.entrypoints import contract

    return [m for m in map(contract.parse_metric_line, log.splitlines()) if m]


@pytest.mark.slow
def test_multitask_trains_resumes_distils_and_serves(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    data = tmp_path / "shapes"
    datagen.generate(GENERATOR, rows=1200, seed=4, out_dir=data, write_png=False)
    teacher = {"backbone": "resnet50", "epochs": 6, "learning_rate": 0.003, "curriculum": True}
    code, log = run_job(data, tmp_path / "teacher", teacher)
    assert code == 0, log
    per_epoch = [s for n, _, s in metrics_of(log) if n == "validation:mAP" and s]
    assert per_epoch == [1, 2, 3, 4, 5, 6]
    final = json.loads((tmp_path / "teacher" / "output" / "data" / "metrics.json").read_text())
    assert final["validation:accuracy"] > 0.75 and final["validation:mAP"] > 0.3
    assert final["model:parameters"] > 50_000

    # a spot restart: the job finds its checkpoint and trains only the epochs left
    code, log = run_job(data, tmp_path / "teacher", {**teacher, "epochs": 7})
    assert code == 0, log
    assert "resumed from the checkpoint of epoch 6" in log
    assert [s for n, _, s in metrics_of(log) if n == "train:loss" and s] == [7]

    student = {
        "backbone": "mobilenet_v3_small",
        "distill_from": "train-multitask",
        "temperature": 4,
        "alpha": 0.5,
        "epochs": 4,
        "learning_rate": 0.005,
    }
    # distillation without its teacher's channel fails with a reason
    code, log = run_job(data, tmp_path / "orphan", student)
    assert code == 1 and "input channel 'teacher' not found" in log
    # the teacher as SageMaker delivers it: the model.tar.gz of the teacher's job
    import tarfile

    channel = tmp_path / "teacher-artifact"
    channel.mkdir()
    with tarfile.open(channel / "model.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "teacher" / "model" / "model.pt", arcname="model.pt")
    code, log = run_job(data, tmp_path / "student", student, teacher=channel)
    assert code == 0, log
    assert "distilling from train-multitask's model: temperature=4.0, alpha=0.5" in log
    got = json.loads((tmp_path / "student" / "output" / "data" / "metrics.json").read_text())
    assert got["teacher:validation:mAP"] == pytest.approx(final["validation:mAP"], abs=0.15)
    assert got["model:parameters"] < final["model:parameters"] / 3
    assert got["validation:accuracy"] > 0.5

    from labctl.entrypoints import multitask_vision as mv

    model = mv.model_fn(str(tmp_path / "student" / "model"))
    with np.load(data / "validation" / "images.npz") as val:
        images, labels = val["x"][:8], val["y"][:8]
    body = json.dumps({"instances": images.tolist()}).encode()  # nested [h][w][3] images
    out, kind = mv.output_fn(mv.predict_fn(mv.input_fn(body, "application/json"), model), "")
    predictions = json.loads(out)["predictions"]
    assert kind == "application/json" and len(predictions) == 8
    assert {p["label"] for p in predictions} <= set(shapes.CLASSES)
    assert all(len(p["box"]) == 4 and 0 <= p["score"] <= 1 for p in predictions)
    assert sum(p["class"] == y for p, y in zip(predictions, labels, strict=True)) >= 4
    with pytest.raises(ValueError, match="expected 3072 features"):
        mv.predict_fn(np.zeros((1, 12), np.float32), model)


@pytest.mark.slow
def test_multitask_trains_data_parallel_on_two_ranks(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    data = tmp_path / "shapes"
    datagen.generate(GENERATOR, rows=200, seed=5, out_dir=data, write_png=False)
    hps = {"epochs": 2, "width": 4, "distribution": "torch_distributed"}
    code, log = run_job(data, tmp_path / "job", hps, count=2)
    assert code == 0, log
    for rank in (0, 1):
        assert f"[rank{rank}] rank {rank}/2: joined the gloo process group" in log
        assert f"[rank{rank}] rank {rank}/2: 80 of 160 images per epoch" in log
    # only rank 0 evaluates, reports and saves
    assert log.count("saved model.pt") == 1 and "[rank0] rank 0/2: saved model.pt" in log
    assert "#metric" not in "".join(line for line in log.splitlines() if "[rank1]" in line)
    assert sorted(p.name for p in (tmp_path / "job" / "model").iterdir()) == ["model.pt"]


def test_plan_finds_a_teacher_no_earlier_step_trains() -> None:
    from labctl import catalog
    from labctl.backends.base import get_backend

    lab = catalog.load(Path(__file__).resolve().parents[1] / "labs.yaml").lab(LAB)
    local = get_backend("local")
    assert not [f for f in local.check(lab) if "model comes from" in f.reason]
    student = lab.step("train-student")
    for wrong in ("tune-multitsk", "endpoint", "train-student"):  # a typo, no model, itself
        hps = {**student.hyperparameters, "distill_from": wrong}
        steps = [
            s.model_copy(update={"hyperparameters": hps}) if s.name == student.name else s
            for s in lab.steps
        ]
        [finding] = [
            f
            for f in local.check(lab.model_copy(update={"steps": steps}))
            if f.step == student.name
        ]
        assert finding.fatal and f"teacher model comes from '{wrong}'" in finding.reason


# --------------------------------------------------------------------------- the lab end to end


@pytest.mark.local
@pytest.mark.slow
def test_computer_vision_pipeline_trains_distils_deploys_and_predicts(cli, home) -> None:
    pytest.importorskip("torch")
    lab = LAB
    plan = cli("plan", lab, "--json")
    assert plan.code == 0, plan.stderr
    assert [f for f in json.loads(plan.stdout)["findings"] if f["fatal"]] == []
    try:
        up = cli("up", lab, "--rows", "160", "--trials", "2", "--json")
        assert up.code == 0, up.stderr
        steps = up.json()["steps"]
        assert steps["vision-data"]["schema"]["validation_rows"] == 32
        assert 0 <= steps["train-multitask"]["metrics"]["validation:mAP"] <= 1
        best = steps["tune-multitask"]
        assert best["trials"] == 2
        student = steps["train-student"]
        # the student learnt from the tuning job's best model, read from its teacher channel
        teacher_map = student["metrics"]["teacher:validation:mAP"]
        assert teacher_map == pytest.approx(best["metrics"]["validation:mAP"])
        job = Path(student["model_dir"]).parents[2] / "jobs" / student["job"]
        assert (job / "input" / "data" / "teacher").resolve() == Path(best["model_dir"])
        assert "distilling from tune-multitask's model" in (job / "output" / "log.txt").read_text()
        assert (
            student["metrics"]["model:parameters"]
            < steps["train-multitask"]["metrics"]["model:parameters"]
        )
        assert steps["batch-predict"]["records"] == 32
        assert steps["model-monitor"]["features"] == 0  # images: an empty baseline

        runs = cli("status", "--json").json()
        assert "validation:mAP" in runs[0]["metrics"]["train-student"]
        with np.load(Path(steps["vision-data"]["dir"]) / "validation" / "images.npz") as val:
            image = val["x"][0].tolist()
        invoked = cli("invoke", lab, input=json.dumps({"instances": [image]}))
        assert invoked.code == 0, invoked.stderr
        [prediction] = json.loads(invoked.stdout)["predictions"]
        assert prediction["label"] in shapes.CLASSES and len(prediction["box"]) == 4
    finally:
        assert cli("down", lab, "--yes").code == 0
