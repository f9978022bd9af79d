"""Stand-in for SageMaker Random Cut Forest: unsupervised anomaly scores on imbalanced data.

Hyperparameters (RCF's names): num_trees (default 100), num_samples_per_tree (default 256),
feature_dim (optional; checked against the data), seed. Trains an IsolationForest on the `train`
channel IGNORING its first (label) column, as RCF trains without labels. If a `validation`
channel (label first) is given it emits `validation:auc`, `validation:precision`,
`validation:recall` and `validation:f1`.

Threshold: like RCF's usual rule, a record is anomalous when its score is above
mean + 3 standard deviations of the training scores; the threshold is saved with the model.
Scores are IsolationForest's anomaly score in (0, 1]; higher = more anomalous.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from labctl.entrypoints import contract

MODEL_FILE = "model.joblib"


def _scores(forest: Any, x: np.ndarray) -> np.ndarray:
    return -forest.score_samples(x)


def flatten_forest(forest: Any) -> dict[str, Any]:
    """The fitted IsolationForest as padded numpy arrays, for `flat_scores`.

    sklearn scores a request tree by tree through joblib (~10 ms for one row); walking all trees
    at once, one level per numpy step, gives the same scores in well under a millisecond.
    """
    from sklearn.ensemble._iforest import _average_path_length

    trees = [est.tree_ for est in forest.estimators_]
    width = max(t.node_count for t in trees)
    shape = (len(trees), width)
    left = np.full(shape, -1, dtype=np.int64)
    right = np.full(shape, -1, dtype=np.int64)
    feature = np.zeros(shape, dtype=np.int64)
    threshold = np.zeros(shape, dtype=np.float64)
    leaf_value = np.zeros(shape, dtype=np.float64)
    for i, (tree, features) in enumerate(zip(trees, forest.estimators_features_, strict=True)):
        n = tree.node_count
        left[i, :n] = tree.children_left
        right[i, :n] = tree.children_right
        feature[i, :n] = np.asarray(features)[np.maximum(tree.feature, 0)]
        threshold[i, :n] = tree.threshold
        leaf_value[i, :n] = (
            forest._decision_path_lengths[i] + forest._average_path_length_per_tree[i] - 1.0
        )
    denominator = len(trees) * float(_average_path_length([forest._max_samples])[0])
    return {
        "left": left,
        "right": right,
        "feature": feature,
        "threshold": threshold,
        "leaf_value": leaf_value,
        "denominator": denominator,
        "depth": max(est.get_depth() for est in forest.estimators_),
    }


def flat_scores(flat: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Anomaly scores in (0, 1] (higher = more anomalous), identical to sklearn's."""
    x = np.asarray(x, dtype=np.float32)
    n_trees = flat["left"].shape[0]
    trees = np.arange(n_trees)[None, :]
    rows = np.arange(len(x))[:, None]
    node = np.zeros((len(x), n_trees), dtype=np.int64)
    for _ in range(flat["depth"]):
        lft = flat["left"][trees, node]
        inner = lft >= 0
        if not inner.any():
            break
        value = x[rows, flat["feature"][trees, node]]
        go_left = value <= flat["threshold"][trees, node]
        node = np.where(inner, np.where(go_left, lft, flat["right"][trees, node]), node)
    depths = flat["leaf_value"][trees, node].sum(axis=1)
    if flat["denominator"] == 0:
        return np.ones(len(x))
    return 2.0 ** (-depths / flat["denominator"])


def train() -> None:
    """Fit the forest, pick the threshold, evaluate on validation, save model/model.joblib."""
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    num_trees = contract.hp_int("num_trees", 100, low=1, high=10_000)
    samples = contract.hp_int("num_samples_per_tree", 256, low=2)
    seed = contract.hp_int("seed", 0)
    x = contract.read_channel_csv("train")[:, 1:]
    feature_dim = contract.hyperparameters().get("feature_dim")
    if feature_dim is not None and contract.hp_int("feature_dim") != x.shape[1]:
        raise contract.HyperparameterError(
            f"feature_dim={feature_dim} but the train channel has {x.shape[1]} features"
        )
    forest = IsolationForest(
        n_estimators=num_trees,
        max_samples=min(samples, len(x)),
        random_state=seed,
        n_jobs=contract.num_cpus(),
    ).fit(x)
    train_scores = _scores(forest, x)
    threshold = float(train_scores.mean() + 3.0 * train_scores.std())
    metrics: dict[str, float] = {"train:threshold": threshold}
    val = contract.read_validation_csv(x.shape[1])
    if val is not None:
        labels = val[:, 0] > 0.5
        scores = _scores(forest, val[:, 1:])
        if labels.all() or not labels.any():
            raise ValueError("the validation channel needs both normal and anomalous rows")
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
    forest.n_jobs = 1
    joblib.dump(
        {"forest": forest, "threshold": threshold, "feature_dim": x.shape[1]},
        contract.model_dir() / MODEL_FILE,
    )
    contract.write_metrics(metrics)


# --------------------------------------------------------------------------- inference


def model_fn(model_dir: str) -> dict[str, Any]:
    """Load model/model.joblib: {"forest", "threshold", "feature_dim"} (+ "flat" for speed)."""
    model = joblib.load(Path(model_dir) / MODEL_FILE)
    model["flat"] = flatten_forest(model["forest"])
    return model


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """text/csv rows or application/json instances (also RCF's {"features": [...]})."""
    return contract.parse_rows(body, content_type)


def predict_fn(data: np.ndarray, model: dict[str, Any]) -> np.ndarray:
    """An anomaly score per row; higher = more anomalous."""
    contract.check_width(data, model["feature_dim"])
    if "flat" in model:
        return flat_scores(model["flat"], data)
    return _scores(model["forest"], data)


def output_fn(prediction: np.ndarray, accept: str) -> tuple[bytes, str]:
    """application/json (default) as RCF: {"scores": [{"score": x}, ...]}; text/csv per line."""
    kind = contract.media_type(accept, "application/json")
    if kind == "application/json":
        body = {"scores": [{"score": float(s)} for s in prediction.tolist()]}
        return json.dumps(body).encode(), "application/json"
    return contract.encode_values(prediction, kind)


if __name__ == "__main__":
    contract.run(train)
