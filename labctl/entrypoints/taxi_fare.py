"""Taxi fare regression on one node: scikit-learn HistGradientBoostingRegressor.

The single-node baseline of the distributed-tuning lab and the function its tuning runs. Channels
`train` and `validation`: Parquet (or CSV without header), label first.

Hyperparameters: learning_rate (0.1), max_depth (8), max_iter (200), l2_regularization (0),
min_samples_leaf (20), cv_folds (0; >= 2 adds `cv:rmse` from K-fold on the train channel), seed.

Metrics: `validation:rmse` every tenth of the boosting iterations (step = iteration, so a tuner
can prune) and at the end with `train:rmse`, `validation:r2` (and `cv:rmse`). The model is
`model/model.joblib`; with MLflow tracking on, it is logged too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from labctl.entrypoints import _tracking, contract

MODEL_FILE = "model.joblib"


def read_channel(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features, label, feature names) of a Parquet or CSV channel, label first."""
    import pandas as pd

    files = contract.channel_files(name)
    if files[0].suffix == ".parquet":
        frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    else:
        frame = pd.concat([pd.read_csv(f, header=None) for f in files], ignore_index=True)
        frame.columns = [str(c) for c in frame.columns]
    values = frame.to_numpy(dtype=np.float64)
    return values[:, 1:], values[:, 0], [str(c) for c in frame.columns[1:]]


def params() -> dict[str, Any]:
    hp = contract
    return {
        "learning_rate": hp.hp_float("learning_rate", 0.1, low=1e-5, high=1.0),
        "max_depth": hp.hp_int("max_depth", 8, low=1, high=64),
        "max_iter": hp.hp_int("max_iter", 200, low=1, high=10_000),
        "l2_regularization": hp.hp_float("l2_regularization", 0.0, low=0.0),
        "min_samples_leaf": hp.hp_int("min_samples_leaf", 20, low=1),
        "cv_folds": hp.hp_int("cv_folds", 0, low=0, high=20),
        "seed": hp.hp_int("seed", 42),
    }


def _model(p: dict[str, Any]) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        learning_rate=p["learning_rate"],
        max_depth=p["max_depth"],
        max_iter=p["max_iter"],
        l2_regularization=p["l2_regularization"],
        min_samples_leaf=p["min_samples_leaf"],
        early_stopping=False,
        random_state=p["seed"],
    )


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def train() -> None:
    import os

    os.environ.setdefault("OMP_NUM_THREADS", str(contract.num_cpus()))
    p = params()
    x, y, names = read_channel("train")
    xv, yv, _ = read_channel("validation")
    contract.check_width(xv, x.shape[1])
    metrics: dict[str, float] = {}
    started = time.monotonic()
    with _tracking.run("taxi-fare-single-node", {**p, "rows": len(y)}) as tracker:
        if p["cv_folds"] >= 2:
            from sklearn.model_selection import KFold

            scores = []
            for fit_idx, test_idx in KFold(p["cv_folds"], shuffle=True, random_state=0).split(x):
                fold = _model(p).fit(x[fit_idx], y[fit_idx])
                scores.append(_rmse(y[test_idx], fold.predict(x[test_idx])))
            metrics["cv:rmse"] = float(np.mean(scores))
        model = _model(p).fit(x, y)
        every = max(1, model.n_iter_ // 10)
        for i, pred in enumerate(model.staged_predict(xv), start=1):
            if i % every == 0 and i < model.n_iter_:
                contract.emit_metric("validation:rmse", _rmse(yv, pred), step=i)
        final = model.predict(xv)
        metrics["train:rmse"] = _rmse(y, model.predict(x))
        metrics["validation:rmse"] = _rmse(yv, final)
        metrics["validation:r2"] = float(
            1 - np.sum((yv - final) ** 2) / np.sum((yv - yv.mean()) ** 2)
        )
        metrics["training_seconds"] = round(time.monotonic() - started, 3)
        tracker.finish_sklearn(model, names, metrics, xv[:5], contract.model_dir() / MODEL_FILE)
    contract.write_metrics(metrics)


# --------------------------------------------------------------------------- inference


def model_fn(model_dir: str) -> dict[str, Any]:
    import joblib

    return joblib.load(Path(model_dir) / MODEL_FILE)


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """text/csv rows or application/json instances of the features (no label)."""
    return contract.parse_rows(body, content_type)


def predict_fn(data: np.ndarray, model: dict[str, Any]) -> np.ndarray:
    contract.check_width(data, len(model["features"]))
    return model["model"].predict(data.astype(np.float64))


def output_fn(prediction: np.ndarray, accept: str) -> tuple[bytes, str]:
    return contract.encode_values(prediction, accept, default="text/csv")


if __name__ == "__main__":
    contract.run(train)
