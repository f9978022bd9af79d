"""PyTorch script mode: an autoencoder on sensor telemetry; reconstruction error scores anomalies.

Channels `train` and `validation`: CSV, label (`anomaly`) first, then the features (the
`iot-sensor-telemetry` generator's readings and windowed deviations). The autoencoder trains
without labels, as Random Cut Forest does (`anomaly.py`), on the standardised features; data
parallel over the job's ranks (`_torch.py`) when the step has several instances.

Hyperparameters: epochs (default 20), batch_size (256), learning_rate (0.001), hidden (bottleneck
width, default 4), pruning_sparsity (share of each layer's weights zeroed by magnitude after
training, default 0), quantization (`int8`: dynamic int8 Linear layers, as served; or `none`),
seed. `model` and `window` are accepted for the cloud script's sake: the local model is this
autoencoder and the generator already computes the window's features.

Threshold: mean + 3 standard deviations of the training rows' scores, saved with the model.
Metrics: `train:loss` per epoch (step = epoch), then `validation:auc`, `validation:precision`,
`validation:recall`, `validation:f1` of the model as served. Written to `model/model.pt`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from labctl.entrypoints import _torch, contract

MODEL_FILE = "model.pt"


def _network(features: int, hidden: int) -> Any:
    import torch

    width = max(hidden * 2, 16)
    return torch.nn.Sequential(
        torch.nn.Linear(features, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, features),
    )


def _for_serving(network: Any, quantization: str) -> Any:
    """The network as served: dynamic int8 Linear layers when `quantization` is int8."""
    import torch

    network.eval()
    if quantization != "int8":
        return network
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(network, {torch.nn.Linear}, dtype=torch.qint8)


def _scores(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Mean squared reconstruction error of each standardised row; higher = more anomalous."""
    import torch

    z = torch.from_numpy(((x - model["mean"]) / model["scale"]).astype(np.float32))
    with torch.no_grad():
        return ((model["network"](z) - z) ** 2).mean(dim=1).numpy().astype(np.float64)


def train() -> None:
    """Train, prune, quantize; rank 0 picks the threshold, evaluates and saves model.pt."""
    _torch.require("sensor_anomaly")
    import torch
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    epochs = contract.hp_int("epochs", 20, low=1, high=10_000)
    batch_size = contract.hp_int("batch_size", 256, low=1)
    learning_rate = contract.hp_float("learning_rate", 0.001, low=1e-8, high=10.0)
    hidden = contract.hp_int("hidden", 4, low=1, high=1024)
    sparsity = contract.hp_float("pruning_sparsity", 0.0, low=0.0, high=0.95)
    quantization = contract.hp_str("quantization", "none", choices=("none", "int8"))
    seed = contract.hp_int("seed", 0)
    contract.hp_int("window", 60, low=1)  # validated; the features already hold the window

    x = contract.read_channel_csv("train")[:, 1:]
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    data = torch.from_numpy(((x - mean) / scale).astype(np.float32))
    torch.manual_seed(seed)
    network = _network(x.shape[1], hidden)
    with _torch.distributed():
        ddp = _torch.wrap(network)
        optimizer = torch.optim.Adam(ddp.parameters(), lr=learning_rate)
        _torch.log(f"{len(x) // _torch.world_size()} of {len(x)} rows per epoch")
        for epoch in range(1, epochs + 1):
            total, seen = 0.0, 0
            for rows in _torch.batches(_torch.shard(len(data), seed, epoch), batch_size):
                batch = data[rows]
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(ddp(batch), batch)
                loss.backward()
                optimizer.step()
                total, seen = total + loss.item() * len(rows), seen + len(rows)
            if _torch.is_main():
                contract.emit_metric("train:loss", total / seen, step=epoch)
    if not _torch.is_main():
        return
    if sparsity > 0:
        for layer in network:
            if isinstance(layer, torch.nn.Linear):
                weight = layer.weight.data
                cut = weight.abs().flatten().kthvalue(max(1, int(weight.numel() * sparsity)))
                weight[weight.abs() <= cut.values] = 0.0
    model = {"mean": mean, "scale": scale, "network": _for_serving(network, quantization)}
    train_scores = _scores(model, x)
    threshold = float(train_scores.mean() + 3.0 * train_scores.std())
    metrics: dict[str, float] = {"train:threshold": threshold}
    val = contract.read_validation_csv(x.shape[1])
    if val is not None:
        labels = val[:, 0] > 0.5
        if labels.all() or not labels.any():
            raise ValueError("the validation channel needs both normal and anomalous rows")
        scores = _scores(model, val[:, 1:])
        precision, recall, f1, _ = precision_recall_fscore_support(
            labels, scores > threshold, average="binary", zero_division=0
        )
        metrics |= {
            "validation:auc": float(roc_auc_score(labels, scores)),
            "validation:precision": float(precision),
            "validation:recall": float(recall),
            "validation:f1": float(f1),
        }
    for name, value in metrics.items():
        contract.emit_metric(name, value)
    torch.save(
        {
            "state_dict": network.state_dict(),
            "mean": torch.from_numpy(mean),
            "scale": torch.from_numpy(scale),
            "hidden": hidden,
            "quantization": quantization,
            "threshold": threshold,
        },
        contract.model_dir() / MODEL_FILE,
    )
    _torch.log(f"saved {MODEL_FILE}")
    contract.write_metrics(metrics)


# --------------------------------------------------------------------------- inference


def model_fn(model_dir: str) -> dict[str, Any]:
    """Load model/model.pt: {"network", "mean", "scale", "threshold", "feature_dim"}."""
    import torch

    saved = torch.load(Path(model_dir) / MODEL_FILE, weights_only=True)
    mean, scale = saved["mean"].numpy(), saved["scale"].numpy()
    network = _network(len(mean), saved["hidden"])
    network.load_state_dict(saved["state_dict"])
    return {
        "network": _for_serving(network, saved["quantization"]),
        "mean": mean,
        "scale": scale,
        "threshold": saved["threshold"],
        "feature_dim": len(mean),
    }


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """text/csv rows or application/json instances of features (no label)."""
    return contract.parse_rows(body, content_type)


def predict_fn(data: np.ndarray, model: dict[str, Any]) -> np.ndarray:
    """An anomaly score per row (reconstruction error); higher = more anomalous."""
    contract.check_width(data, model["feature_dim"])
    return _scores(model, data)


def output_fn(prediction: np.ndarray, accept: str) -> tuple[bytes, str]:
    """application/json (default) as RCF: {"scores": [{"score": x}, ...]}; text/csv per line."""
    kind = contract.media_type(accept, "application/json")
    if kind == "application/json":
        body = {"scores": [{"score": float(s)} for s in prediction.tolist()]}
        return json.dumps(body).encode(), "application/json"
    return contract.encode_values(prediction, kind)


if __name__ == "__main__":
    contract.run(train)
