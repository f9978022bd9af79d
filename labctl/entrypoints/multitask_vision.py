"""PyTorch script mode: a small multi-task CNN that classifies the shape in an image and regresses
its bounding box; with `distill_from`, a student distilled from a teacher's model.

Channels `train` and `validation`: `images.npz` with `x` (n, h, w, 3) uint8, `y` (n,) class ids
and `boxes` (n, 4) xmin, ymin, xmax, ymax as fractions of the side (the
`synthetic-shapes-detection` generator). Channel `teacher` (distillation only): the teacher's
model, as a folder holding `model.pt` (local target) or its `model.tar.gz` (SageMaker).

Network: three conv blocks (conv, batch norm, ReLU, max-pool) of `width`, 2x and 4x channels, a
shared hidden layer, a classification head and a box head (sigmoid, xyxy). `backbone` names the
cloud model; here it picks the width (a `mobilenet*` backbone: 8, any other: 16) unless `width`
is given. `pretrained` is recorded only: nothing is downloaded.

Loss (multi-task): cross-entropy + `box_weight` (default 2) x L1 of the box. Distillation
(`distill_from` set, channel `teacher`): the class term becomes `alpha` x T^2 x KL(student/T ||
teacher/T) + (1 - alpha) x cross-entropy, with `temperature` T (default 4) and `alpha` (0.5), and
the box term the same mix of L1 to the truth and to the teacher's box.

Hyperparameters: epochs (20), batch_size (32), learning_rate (0.0005), weight_decay (0.0001),
augment (horizontal flips, true), curriculum (true: the first quarter of the epochs sees only the
larger half of the shapes), mixed_precision (bf16 autocast on GPU; ignored on CPU), seed;
`export` is accepted (none, onnx, onnx-int8) and recorded: the served model is model.pt.

Data parallel over the job's ranks (`_torch.py`); rank 0 checkpoints every epoch to
`<input dir>/../checkpoints` (/opt/ml/checkpoints on SageMaker, synced to S3 for managed spot) and
resumes from it after an interruption.

Metrics: `train:loss` and `validation:mAP` per epoch (step = epoch), then `validation:mAP`
(mean over classes of the average precision at IoU 0.5), `validation:accuracy`,
`validation:mean_iou`, `train:loss`, `model:parameters`; a student also reports its teacher's
`teacher:validation:mAP`. Written to `model/model.pt`.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from labctl.entrypoints import _torch, contract, image_classifier

CONTENT_TYPE = "application/json"  # {"instances": [image, ...]}: [h][w][3] or flat, 0-255
BATCH_CONTENT_TYPE = "application/jsonlines"  # one flattened image per line
MODEL_FILE = "model.pt"
CHECKPOINT_FILE = "multitask.pt"
IOU_THRESHOLD = 0.5

# the same request and response formats as the image classifier's (its predictions gain a box)
input_fn = image_classifier.input_fn
output_fn = image_classifier.output_fn
batch_input = image_classifier.batch_input


# --------------------------------------------------------------------------- data and metrics


def load_channel(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x uint8 (n, h, w, 3), y (n,), boxes float32 (n, 4)) of a channel's .npz files."""
    xs, ys, bs = [], [], []
    for path in contract.channel_files(name):
        if path.suffix != ".npz":
            continue
        with np.load(path) as data:
            if "boxes" not in data:
                raise ValueError(f"{path.name} has no `boxes`: this script needs boxed images")
            xs.append(data["x"])
            ys.append(data["y"])
            bs.append(data["boxes"])
    if not xs:
        raise FileNotFoundError(f"channel '{name}' has no .npz image files")
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64), np.concatenate(bs)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise intersection over union of two (n, 4) xyxy box arrays."""
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area - inter, 1e-9)


def mean_average_precision(
    y: np.ndarray, boxes: np.ndarray, proba: np.ndarray, predicted: np.ndarray
) -> float:
    """VOC-style mAP at IoU 0.5 for one object per image: each image yields one detection per
    class (its predicted box, scored by the class's probability); a detection of class c is
    true when the image holds a c whose box it overlaps by IoU >= 0.5. AP: area under the
    all-points interpolated precision-recall curve; the mean is over the classes present."""
    hit = iou(boxes, predicted) >= IOU_THRESHOLD
    aps = []
    for c in np.unique(y):
        order = np.argsort(-proba[:, c], kind="stable")
        tp = ((y == c) & hit)[order].astype(np.float64)
        recall = np.cumsum(tp) / (y == c).sum()
        precision = np.cumsum(tp) / np.arange(1, len(tp) + 1)
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        aps.append(float(np.sum(np.diff(np.concatenate([[0.0], recall])) * envelope)))
    return float(np.mean(aps))


# --------------------------------------------------------------------------- the network


def width_of(backbone: str) -> int:
    """The conv width standing in for a backbone: narrow for a mobile one, else wide."""
    return 8 if backbone.lower().startswith("mobilenet") else 16


def network(classes: int, width: int, size: int) -> Any:
    import torch
    from torch import nn

    def block(cin: int, cout: int) -> list[nn.Module]:
        conv = nn.Conv2d(cin, cout, 3, padding=1)
        return [conv, nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    class MultiTask(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                *block(3, width), *block(width, 2 * width), *block(2 * width, 4 * width)
            )
            hidden = max(32, 4 * width)
            self.shared = nn.Sequential(
                nn.Flatten(), nn.Linear(4 * width * (size // 8) ** 2, hidden), nn.ReLU()
            )
            self.classify = nn.Linear(hidden, classes)
            self.box = nn.Linear(hidden, 4)

        def forward(self, x: Any) -> tuple[Any, Any]:
            z = self.shared(self.features(x))
            raw = torch.sigmoid(self.box(z))  # xyxy in [0, 1], corners put in order
            lo, hi = torch.minimum(raw[:, :2], raw[:, 2:]), torch.maximum(raw[:, :2], raw[:, 2:])
            return self.classify(z), torch.cat([lo, hi], dim=1)

    return MultiTask()


def as_tensor(x: np.ndarray) -> Any:
    """uint8 (n, h, w, 3) images -> float (n, 3, h, w) in [-0.5, 0.5]."""
    import torch

    return torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255.0).sub(0.5)


def predict(net: Any, x: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities, boxes) of uint8 images, in eval mode, on the network's device."""
    import torch

    net.eval()
    device = next(net.parameters()).device
    probs, boxes = [], []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            logits, box = net(as_tensor(x[start : start + batch]).to(device))
            probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
            boxes.append(box.float().cpu().numpy())
    return np.concatenate(probs), np.concatenate(boxes)


def evaluate(net: Any, x: np.ndarray, y: np.ndarray, boxes: np.ndarray) -> dict[str, float]:
    proba, predicted = predict(net, x)
    return {
        "validation:mAP": mean_average_precision(y, boxes, proba, predicted),
        "validation:accuracy": float((proba.argmax(axis=1) == y).mean()),
        "validation:mean_iou": float(iou(boxes, predicted).mean()),
    }


def _saved(net: Any, classes: list[str], width: int, size: int) -> dict[str, Any]:
    return {"state_dict": net.state_dict(), "classes": classes, "width": width, "size": size}


def _restore(saved: dict[str, Any]) -> Any:
    net = network(len(saved["classes"]), saved["width"], saved["size"])
    net.load_state_dict(saved["state_dict"])
    net.eval()
    return net


def load_teacher(folder: Path) -> dict[str, Any]:
    """The teacher's saved model from its channel: model.pt, or inside model.tar.gz."""
    import torch

    path = folder / MODEL_FILE
    if path.is_file():
        return torch.load(path, weights_only=True)
    archives = sorted(folder.rglob("*.tar.gz"))
    if not archives:
        raise FileNotFoundError(f"the teacher channel at {folder} has no {MODEL_FILE}")
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archives[0]) as tar:
        member = next((m for m in tar if Path(m.name).name == MODEL_FILE), None)
        if member is None:
            raise FileNotFoundError(f"{archives[0].name} holds no {MODEL_FILE}")
        tar.extract(member, tmp, filter="data")
        return torch.load(Path(tmp) / member.name, weights_only=True)


def multitask_loss(
    output: tuple[Any, Any],
    truth: tuple[Any, Any],
    *,
    box_weight: float,
    teacher: tuple[Any, Any] | None = None,
    temperature: float = 4.0,
    alpha: float = 0.5,
) -> Any:
    """Cross-entropy + `box_weight` x L1 of the boxes, for (logits, boxes) against (labels,
    boxes). With the `teacher`'s (logits, boxes), each term becomes `alpha` x its distilled
    form (T^2 x KL of the softened distributions; L1 to the teacher's box) + (1 - alpha) x it."""
    import torch.nn.functional as F

    (logits, box), (label, target) = output, truth
    class_loss = F.cross_entropy(logits, label)
    box_loss = F.l1_loss(box, target)
    if teacher is not None:
        t_logits, t_box = teacher
        soft = F.kl_div(
            F.log_softmax(logits / temperature, dim=1),
            F.softmax(t_logits / temperature, dim=1),
            reduction="batchmean",
        )
        class_loss = alpha * temperature**2 * soft + (1 - alpha) * class_loss
        box_loss = alpha * F.l1_loss(box, t_box) + (1 - alpha) * box_loss
    return class_loss + box_weight * box_loss


# --------------------------------------------------------------------------- training


def train() -> None:
    """Train (or distil) data-parallel; rank 0 checkpoints, evaluates and saves model.pt."""
    _torch.require("multitask_vision")
    import torch

    epochs = contract.hp_int("epochs", 20, low=1, high=10_000)
    batch_size = contract.hp_int("batch_size", 32, low=1)
    learning_rate = contract.hp_float("learning_rate", 0.0005, low=1e-8, high=10.0)
    weight_decay = contract.hp_float("weight_decay", 0.0001, low=0.0, high=1.0)
    box_weight = contract.hp_float("box_weight", 2.0, low=0.0)
    backbone = contract.hp_str("backbone", "resnet50")
    width = contract.hp_int("width", width_of(backbone), low=1, high=512)
    augment = contract.hp_bool("augment", True)
    curriculum = contract.hp_bool("curriculum", True)
    mixed = contract.hp_bool("mixed_precision", False)
    contract.hp_bool("pretrained", False)  # recorded: nothing is downloaded
    contract.hp_str("export", "none", choices=("none", "onnx", "onnx-int8"))
    seed = contract.hp_int("seed", 0)
    distill = contract.hyperparameters().get("distill_from")
    temperature = contract.hp_float("temperature", 4.0, low=0.01, high=100.0)
    alpha = contract.hp_float("alpha", 0.5, low=0.0, high=1.0)

    x, y, boxes = load_channel("train")
    size = x.shape[1]
    if x.shape[1:] != (size, size, 3) or size % 8:
        raise ValueError(f"images must be square RGB with a side divisible by 8, got {x.shape}")
    try:
        val: tuple[np.ndarray, np.ndarray, np.ndarray] | None = load_channel("validation")
    except FileNotFoundError:
        val = None
    classes = image_classifier.class_names(int(y.max()) + 1)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK") or 0))
    teacher = None
    if distill:
        teacher = _restore(load_teacher(contract.channel("teacher"))).to(device)
        if _torch.is_main():
            print(f"distilling from {distill}'s model: temperature={temperature}, alpha={alpha}")
    images, labels, truth = as_tensor(x), torch.from_numpy(y), torch.from_numpy(boxes)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    easy = np.flatnonzero(area >= np.median(area))
    warmup = epochs // 4 if curriculum else 0
    torch.manual_seed(seed)
    net = network(len(classes), width, size).to(device)
    checkpoint = contract.input_dir().parent / "checkpoints" / CHECKPOINT_FILE
    metrics: dict[str, float] = {}
    with _torch.distributed():
        ddp = _torch.wrap(net)
        optimizer = torch.optim.AdamW(ddp.parameters(), lr=learning_rate, weight_decay=weight_decay)
        _torch.log(f"{len(x) // _torch.world_size()} of {len(x)} images per epoch")
        first = 1
        if checkpoint.is_file():
            state = torch.load(checkpoint, weights_only=True)
            net.load_state_dict(state["state_dict"])
            optimizer.load_state_dict(state["optimizer"])
            first = state["epoch"] + 1
            _torch.log(f"resumed from the checkpoint of epoch {state['epoch']}")
        for epoch in range(first, epochs + 1):
            pool = easy if epoch <= warmup else np.arange(len(x))
            net.train()
            flips = np.random.default_rng([seed, epoch, _torch.rank()])
            total, seen = 0.0, 0
            for rows in _torch.batches(pool[_torch.shard(len(pool), seed, epoch)], batch_size):
                batch, target = images[rows], truth[rows]
                if augment:  # flip about half the images left-right, and their boxes
                    flip = torch.from_numpy(flips.random(len(rows)) < 0.5)
                    batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
                    mirrored = torch.stack(
                        [1 - target[:, 2], target[:, 1], 1 - target[:, 0], target[:, 3]], 1
                    )
                    target = torch.where(flip[:, None], mirrored, target)
                batch, target, label = batch.to(device), target.to(device), labels[rows].to(device)
                with torch.autocast(device, torch.bfloat16, enabled=mixed and device == "cuda"):
                    logits, box = ddp(batch)
                taught = None
                if teacher is not None:
                    with torch.no_grad():
                        taught = teacher(batch)
                loss = multitask_loss(
                    (logits.float(), box.float()),
                    (label, target),
                    box_weight=box_weight,
                    teacher=taught,
                    temperature=temperature,
                    alpha=alpha,
                )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total, seen = total + loss.item() * len(rows), seen + len(rows)
            if not _torch.is_main():
                continue
            metrics["train:loss"] = total / max(seen, 1)
            contract.emit_metric("train:loss", metrics["train:loss"], step=epoch)
            if val is not None:  # per epoch, for Hyperband's early stops
                mean_ap = evaluate(net, *val)["validation:mAP"]
                contract.emit_metric("validation:mAP", mean_ap, step=epoch)
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            state = {"epoch": epoch, "optimizer": optimizer.state_dict()}
            torch.save({**state, "state_dict": net.state_dict()}, checkpoint)
    if not _torch.is_main():
        return
    net = net.cpu().eval()
    if val is not None:  # also after a restart that found every epoch done
        metrics |= evaluate(net, *val)
    metrics["model:parameters"] = float(sum(p.numel() for p in net.parameters()))
    if teacher is not None and val is not None:
        metrics["teacher:validation:mAP"] = evaluate(teacher.cpu(), *val)["validation:mAP"]
    for name, value in metrics.items():
        contract.emit_metric(name, value)
    torch.save(_saved(net, classes, width, size), contract.model_dir() / MODEL_FILE)
    _torch.log(f"saved {MODEL_FILE}")
    contract.write_metrics(metrics)


# --------------------------------------------------------------------------- inference


def model_fn(model_dir: str) -> dict[str, Any]:
    """Load model/model.pt: {"network", "classes", "size"}."""
    import torch

    saved = torch.load(Path(model_dir) / MODEL_FILE, weights_only=True)
    return {"network": _restore(saved), "classes": saved["classes"], "size": saved["size"]}


def predict_fn(data: np.ndarray, model: dict[str, Any]) -> list[dict[str, Any]]:
    """Per image: the class id, its label and probability, and the box (xyxy, fractions)."""
    side = model["size"]
    contract.check_width(data, side * side * 3)
    x = np.clip(data, 0, 255).astype(np.uint8).reshape(len(data), side, side, 3)
    proba, boxes = predict(model["network"], x)
    best = proba.argmax(axis=1)
    return [
        {
            "class": int(k),
            "label": model["classes"][int(k)],
            "score": round(float(p[k]), 6),
            "box": [round(float(v), 4) for v in box],
        }
        for k, p, box in zip(best, proba, boxes, strict=True)
    ]


if __name__ == "__main__":
    contract.run(train)
