"""Stand-in for Vertex AI AutoML image classification: a small model search.

Same channels, model files and inference handlers as `image_classifier` (whose pipeline it
searches over). Hyperparameters as AutoML names them: `budget_milli_node_hours` (8000) sets how
many candidates are tried (one per 2000 milli node hours, 2-12), `model_type` (CLOUD, or
MOBILE_* / *_LOW_LATENCY, which favour smaller candidates), `disable_early_stopping` (false:
stop when two candidates in a row do not improve), `multi_label` (must be false: single-label
classification only), `seed` (0).

Candidates (PCA components x regularisation) are scored on a holdout carved from `train`; the
best is refitted on all of `train` and scored on `validation`. Metrics: `validation:accuracy`
per candidate (step = candidate) and at the end, `train:accuracy` at the end.
"""

from __future__ import annotations

import numpy as np

from labctl.entrypoints import contract
from labctl.entrypoints.image_classifier import (  # noqa: F401 - the same inference handlers
    BATCH_CONTENT_TYPE,
    CONTENT_TYPE,
    batch_input,
    fit_and_score,
    input_fn,
    load_channel,
    model_fn,
    output_fn,
    predict_fn,
    save,
)

GRID = [
    (16, 1.0),
    (24, 1.0),
    (32, 0.3),
    (16, 3.0),
    (40, 1.0),
    (24, 0.1),
    (48, 0.3),
    (12, 1.0),
    (64, 1.0),
    (32, 3.0),
    (80, 0.3),
    (96, 1.0),
]


def train() -> None:
    """Search candidates on a holdout of train, refit the best, score validation, save it."""
    budget = contract.hp_int("budget_milli_node_hours", 8000, low=1000, high=1_000_000)
    model_type = contract.hp_str("model_type", "CLOUD")
    patient = contract.hp_bool("disable_early_stopping", False)
    if contract.hp_bool("multi_label", False):
        raise contract.HyperparameterError("multi_label=true is not supported by the stand-in")
    seed = contract.hp_int("seed", 0)
    x, y = load_channel("train")
    try:
        val = load_channel("validation")
    except FileNotFoundError:
        val = None
    count = max(2, min(len(GRID), budget // 2000))
    grid = GRID[:count]
    if model_type.startswith("MOBILE") or model_type.endswith("LOW_LATENCY"):
        grid = sorted(grid)[: max(2, count // 2)]  # smaller models first
    rng = np.random.default_rng(seed)
    holdout = rng.random(len(y)) < 0.2
    best, best_acc, stale = grid[0], -1.0, 0
    for step, (components, c) in enumerate(grid, 1):
        _, scores = fit_and_score(
            x[~holdout],
            y[~holdout],
            (x[holdout], y[holdout]),
            components=components,
            c=c,
            max_iter=60,
            seed=seed,
        )
        acc = scores["validation:accuracy"]
        contract.emit_metric("validation:accuracy", acc, step=step)
        print(f"candidate {step}: components={components} C={c} holdout accuracy={acc:.4f}")
        if acc > best_acc:
            best, best_acc, stale = (components, c), acc, 0
        else:
            stale += 1
            if stale >= 2 and not patient:
                print("early stopping: two candidates without improvement")
                break
    pipe, metrics = fit_and_score(x, y, val, components=best[0], c=best[1], max_iter=100, seed=seed)
    for name, value in metrics.items():
        contract.emit_metric(name, value)
    save(pipe, int(max(y.max(), -1 if val is None else val[1].max())) + 1)
    contract.write_metrics({**metrics, "candidates": float(step)})


if __name__ == "__main__":
    contract.run(train)
