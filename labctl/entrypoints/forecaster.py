"""Gradient-boosted sales forecaster (the sales-forecasting lab's `forecaster` script).

Channels `train` and `validation`: CSV, no header, `sales` then the features the store-sales
generator writes (calendar, promotion, oil, and per-series lag / rolling-mean features at least
`horizon` days old, so one model forecasts every day of the horizon directly). Validation is the
last weeks in time.

Hyperparameters: model (`gradient-boosting`), objective (`tweedie`, default, for sales with many
zeros and a long tail; `poisson` or `squared`), tweedie_variance_power (1.5), horizon (16; must
match the data's), n_estimators (500), max_depth (8), learning_rate (0.05), subsample (0.8),
colsample_bytree (0.8), early_stopping_rounds (50 when there is validation), nthread, seed.
XGBoost (`reg:tweedie`) fits it.

Metrics: `validation:rmsle` and `train:rmsle` every 100 rounds (step = round) and at the end.
The model is `model/model.bst` (XGBoost UBJSON: Vertex AI's prebuilt XGBoost container serves
it, instances are feature rows) and `model/features.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from labctl.entrypoints import contract

MODEL_FILE = "model.bst"
FEATURES_FILE = "features.json"
OBJECTIVES = {"tweedie": "reg:tweedie", "poisson": "count:poisson", "squared": "reg:squarederror"}
EVERY = 100


def rmsle(pred: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.log1p(np.maximum(pred, 0)) - np.log1p(actual)) ** 2)))


def _schema() -> dict[str, Any]:
    path = contract.channel("train").resolve().parent / "schema.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def train() -> None:
    """Fit XGBoost on train, early-stop on validation, save model.bst and features.json."""
    import xgboost as xgb

    contract.hp_str("model", "gradient-boosting", choices=("gradient-boosting",))
    objective = contract.hp_str("objective", "tweedie", choices=tuple(OBJECTIVES))
    horizon = contract.hp_int("horizon", 16, low=1, high=365)
    rounds = contract.hp_int("n_estimators", 500, low=1, high=100_000)
    params: dict[str, Any] = {
        "objective": OBJECTIVES[objective],
        "max_depth": contract.hp_int("max_depth", 8, low=1, high=32),
        "eta": contract.hp_float("learning_rate", 0.05, low=1e-6, high=1.0),
        "subsample": contract.hp_float("subsample", 0.8, low=0.01, high=1.0),
        "colsample_bytree": contract.hp_float("colsample_bytree", 0.8, low=0.01, high=1.0),
        "nthread": contract.hp_int("nthread", contract.num_cpus(), low=1),
        "seed": contract.hp_int("seed", 0),
        "tree_method": "hist",
        "eval_metric": "rmsle",  # early stopping watches the lab's metric
    }
    if objective == "tweedie":
        params["tweedie_variance_power"] = contract.hp_float(
            "tweedie_variance_power", 1.5, low=1.0, high=1.99
        )
    schema = _schema()
    if schema.get("horizon") not in (None, horizon):
        raise contract.HyperparameterError(
            f"horizon={horizon} but the data's lag features are built for horizon "
            f"{schema['horizon']}: regenerate the data or change the hyperparameter"
        )
    train_m = contract.read_channel_csv("train")
    dtrain = xgb.DMatrix(train_m[:, 1:], label=train_m[:, 0], missing=np.nan)
    evals = [(dtrain, "train")]
    val_m = contract.read_validation_csv(train_m.shape[1] - 1)
    if val_m is not None:
        dval = xgb.DMatrix(val_m[:, 1:], label=val_m[:, 0], missing=np.nan)
        evals.append((dval, "validation"))
    early = contract.hp_int("early_stopping_rounds", 50, low=1) if val_m is not None else None

    data = {"train": train_m, **({"validation": val_m} if val_m is not None else {})}

    class Report(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
            if (epoch + 1) % EVERY == 0:
                for name, matrix in data.items():
                    pred = model.inplace_predict(matrix[:, 1:])
                    contract.emit_metric(f"{name}:rmsle", rmsle(pred, matrix[:, 0]), step=epoch + 1)
            return False

    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=rounds,
        evals=evals,
        early_stopping_rounds=early,
        callbacks=[Report()],
        verbose_eval=False,
    )
    if early and getattr(booster, "best_iteration", None) is not None:
        booster = booster[: booster.best_iteration + 1]
    final = {
        f"{n}:rmsle": rmsle(booster.inplace_predict(m[:, 1:]), m[:, 0]) for n, m in data.items()
    }
    for name, value in final.items():
        contract.emit_metric(name, value)
    out = contract.model_dir()
    (out / MODEL_FILE).write_bytes(bytes(booster.save_raw("ubj")))
    names = schema.get("features") or [f"f{i}" for i in range(train_m.shape[1] - 1)]
    (out / FEATURES_FILE).write_text(json.dumps({"features": names, "horizon": horizon}))
    contract.write_metrics({**final, "rounds": float(booster.num_boosted_rounds())})


# --------------------------------------------------------------------------- inference


def model_fn(model_dir: str) -> Any:
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(bytearray((Path(model_dir) / MODEL_FILE).read_bytes()))
    booster.set_param({"nthread": 1})
    return booster


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """text/csv feature rows (no label) or JSON instances; empty CSV fields are missing lags."""
    return contract.parse_rows(body, content_type)


def predict_fn(data: np.ndarray, model: Any) -> np.ndarray:
    contract.check_width(data, model.num_features())
    return np.maximum(np.asarray(model.inplace_predict(data)), 0.0)


def output_fn(prediction: np.ndarray, accept: str) -> tuple[bytes, str]:
    return contract.encode_values(prediction, accept, default="text/csv")


if __name__ == "__main__":
    contract.run(train)
