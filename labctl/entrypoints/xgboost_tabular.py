"""Stand-in for the SageMaker built-in XGBoost algorithm: training script and inference handlers.

Channels `train` and `validation` (CSV, no header, label first). Hyperparameters as the built-in
algorithm names them: num_round (default 100), max_depth, eta, subsample, colsample_bytree,
min_child_weight, gamma, alpha, lambda, objective (binary:logistic), eval_metric (auc; a comma
list is accepted), scale_pos_weight, early_stopping_rounds, nthread (default $SM_NUM_CPUS), seed.

Metrics: `train:<eval_metric>` and `validation:<eval_metric>` every 10 rounds (step = round) and
once more at the end without a step (the best round when early stopping). The model is written
to `model/xgboost-model` (XGBoost's native UBJSON).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from labctl.entrypoints import contract

MODEL_FILE = "xgboost-model"
EVERY = 10


class _EmitMetrics(xgb.callback.TrainingCallback):
    """Emit `#metric <set>:<metric>=v step=<round>` every `EVERY` rounds."""

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        done = epoch + 1
        if done % EVERY == 0:
            for data_name, metrics in evals_log.items():
                for metric, values in metrics.items():
                    contract.emit_metric(f"{data_name}:{metric}", values[-1], step=done)
        return False


def _params() -> tuple[dict[str, Any], int, int | None]:
    hp = contract
    params: dict[str, Any] = {
        "objective": hp.hp_str("objective", "binary:logistic"),
        "eval_metric": [m.strip() for m in hp.hp_str("eval_metric", "auc").split(",") if m],
        "max_depth": hp.hp_int("max_depth", 6, low=0),
        "eta": hp.hp_float("eta", 0.3, low=0.0, high=1.0),
        "subsample": hp.hp_float("subsample", 1.0, low=1e-6, high=1.0),
        "colsample_bytree": hp.hp_float("colsample_bytree", 1.0, low=1e-6, high=1.0),
        "min_child_weight": hp.hp_float("min_child_weight", 1.0, low=0.0),
        "gamma": hp.hp_float("gamma", 0.0, low=0.0),
        "alpha": hp.hp_float("alpha", 0.0, low=0.0),
        "lambda": hp.hp_float("lambda", 1.0, low=0.0),
        "scale_pos_weight": hp.hp_float("scale_pos_weight", 1.0, low=0.0),
        "nthread": hp.hp_int("nthread", contract.num_cpus(), low=1),
        "seed": hp.hp_int("seed", 0),
        "tree_method": hp.hp_str("tree_method", "hist"),
        "verbosity": 1,
    }
    rounds = hp.hp_int("num_round", 100, low=1)
    early = hp.hyperparameters().get("early_stopping_rounds")
    return params, rounds, hp.hp_int("early_stopping_rounds", low=1) if early else None


def train() -> None:
    """Train on the train channel, evaluate on validation, save model/xgboost-model."""
    params, rounds, early = _params()
    train_m = contract.read_channel_csv("train")
    dtrain = xgb.DMatrix(train_m[:, 1:], label=train_m[:, 0], nthread=params["nthread"])
    evals = [(dtrain, "train")]
    val_m = contract.read_validation_csv(train_m.shape[1] - 1)
    if val_m is not None:
        evals.append((xgb.DMatrix(val_m[:, 1:], label=val_m[:, 0]), "validation"))
    elif early:
        raise contract.HyperparameterError("early_stopping_rounds needs a validation channel")

    log: dict[str, dict[str, list[float]]] = {}
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=rounds,
        evals=evals,
        evals_result=log,
        early_stopping_rounds=early,
        callbacks=[_EmitMetrics()],
        verbose_eval=False,
    )
    best = rounds - 1
    if early and getattr(booster, "best_iteration", None) is not None:
        best = int(booster.best_iteration)
        booster = booster[: best + 1]
    final: dict[str, float] = {}
    for data_name, metrics in log.items():
        for metric, values in metrics.items():
            final[f"{data_name}:{metric}"] = float(values[min(best, len(values) - 1)])
    for name, value in final.items():
        contract.emit_metric(name, value)
    final["num_round"] = float(best + 1)
    (contract.model_dir() / MODEL_FILE).write_bytes(bytes(booster.save_raw("ubj")))
    contract.write_metrics(final)


# --------------------------------------------------------------------------- inference


def model_fn(model_dir: str) -> xgb.Booster:
    """Load model/xgboost-model; predictions run single-threaded (lowest latency per request)."""
    booster = xgb.Booster()
    booster.load_model(bytearray((Path(model_dir) / MODEL_FILE).read_bytes()))
    booster.set_param({"nthread": 1})
    return booster


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """text/csv rows or application/json instances -> float32 matrix (features only)."""
    return contract.parse_rows(body, content_type)


def predict_fn(data: np.ndarray, model: xgb.Booster) -> np.ndarray:
    """One prediction per row (a probability for binary:logistic)."""
    contract.check_width(data, model.num_features())
    return np.asarray(model.inplace_predict(data))


def output_fn(prediction: np.ndarray, accept: str) -> tuple[bytes, str]:
    """text/csv (one value per line, the default) or application/json {"predictions": [...]}."""
    return contract.encode_values(prediction, accept, default="text/csv")


if __name__ == "__main__":
    contract.run(train)
