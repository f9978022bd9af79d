"""Purchase propensity: a gradient-boosting classifier over e-commerce features (scikit-learn).

Channels `train` and `validation`: Parquet (or CSV without header), label (`purchased`) first.
Hyperparameters: estimator (gradient-boosting: HistGradientBoostingClassifier, the fast
histogram implementation; random-forest), n_estimators (200), max_depth (6), learning_rate (0.1),
mlflow_autolog (false: MLflow's sklearn autologging of params and training metrics), seed.

Metrics: `train:auc`, `validation:auc`, `validation:logloss`, `validation:accuracy`.
The model is `model/model.joblib`; served, it answers the purchase probability per row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labctl.entrypoints import _tracking, contract

# serving is the regressor's but for predict_fn: a joblib model and its feature names
from labctl.entrypoints.taxi_fare import MODEL_FILE, input_fn, model_fn, output_fn, read_channel

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn", "train"]


def _estimator(p: dict[str, Any]) -> Any:
    if p["estimator"] == "random-forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=p["n_estimators"],
            max_depth=p["max_depth"],
            n_jobs=contract.num_cpus(),
            random_state=p["seed"],
        )
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=p["n_estimators"],
        max_depth=p["max_depth"],
        learning_rate=p["learning_rate"],
        early_stopping=False,
        random_state=p["seed"],
    )


def train() -> None:
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    hp = contract
    p = {
        "estimator": hp.hp_str(
            "estimator", "gradient-boosting", ("gradient-boosting", "random-forest")
        ),
        "n_estimators": hp.hp_int("n_estimators", 200, low=1, high=10_000),
        "max_depth": hp.hp_int("max_depth", 6, low=1, high=64),
        "learning_rate": hp.hp_float("learning_rate", 0.1, low=1e-5, high=1.0),
        "seed": hp.hp_int("seed", 42),
    }
    autolog = hp.hp_bool("mlflow_autolog", False)
    x, y, names = read_channel("train")
    xv, yv, _ = read_channel("validation")
    contract.check_width(xv, x.shape[1])
    with _tracking.run(
        "propensity", {**p, "rows": len(y)}, autolog="sklearn" if autolog else None
    ) as tracker:
        model = _estimator(p).fit(x, y.astype(int))
        proba = model.predict_proba(xv)[:, 1]
        metrics = {
            "train:auc": float(roc_auc_score(y, model.predict_proba(x)[:, 1])),
            "validation:auc": float(roc_auc_score(yv, proba)),
            "validation:logloss": float(log_loss(yv, proba, labels=[0, 1])),
            "validation:accuracy": float(accuracy_score(yv, proba >= 0.5)),
        }
        tracker.finish_sklearn(model, names, metrics, xv[:5], contract.model_dir() / MODEL_FILE)
    contract.write_metrics(metrics)


# --------------------------------------------------------------------------- inference


def predict_fn(data: np.ndarray, model: dict[str, Any]) -> np.ndarray:
    """The purchase probability of each row."""
    contract.check_width(data, len(model["features"]))
    return model["model"].predict_proba(data.astype(np.float64))[:, 1]


if __name__ == "__main__":
    contract.run(train)
