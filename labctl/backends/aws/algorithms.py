"""Built-in SageMaker algorithms: how each is fed and called, what it emits, whether it
checkpoints (SDK-free).

Metrics are the names SageMaker publishes for each algorithm (its "tunable metrics" pages):
XGBoost emits `train:`/`validation:` of its `eval_metric` (or of its objective's default),
Random Cut Forest `test:f1` (from the labelled test channel), BlazingText supervised
`validation:accuracy`. Of labctl's built-ins only XGBoost resumes from checkpoints, and
SageMaker refuses a managed-spot job of a built-in that does not with MaxWaitTimeInSeconds over
one hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labctl.entrypoints import SCRIPT_MODE

if TYPE_CHECKING:
    from labctl.catalog import Lab, TrainStep

# script mode (scriptmode.py, SCRIPT_MODE): the lab's entry point on a framework container

MAX_WAIT_WITHOUT_CHECKPOINTS = 3600  # SageMaker's limit for built-ins that do not checkpoint
XGBOOST_METRICS = (
    "accuracy", "auc", "aucpr", "error", "f1", "logloss", "mae", "map", "merror", "mlogloss",
    "mse", "ndcg", "rmse",
)  # fmt: skip
# an XGBoost objective's family -> the metric it evaluates when `eval_metric` is not set
XGBOOST_DEFAULT_METRIC = {"binary": "logloss", "reg": "rmse", "multi": "mlogloss", "rank": "map"}


@dataclass(frozen=True)
class Channel:
    name: str  # the algorithm's channel
    source: str  # the data step's folder
    content_type: str
    distribution: str = "FullyReplicated"


@dataclass(frozen=True)
class Algorithm:
    """How a built-in algorithm is fed and called."""

    channels: tuple[Channel, ...]
    request_type: str  # endpoint requests
    accept: str
    batch_type: str  # batch transform input (one record per line)
    batch_accept: str
    metrics: tuple[str, ...]  # the objective metrics it emits (tuning can use)
    checkpoints: bool = False  # resumes from /opt/ml/checkpoints after a spot interruption


ALGORITHMS: dict[str, Algorithm] = {
    "xgboost": Algorithm(
        (Channel("train", "train", "text/csv"), Channel("validation", "validation", "text/csv")),
        "text/csv",
        "text/csv",
        "text/csv",
        "text/csv",
        tuple(f"{ch}:{m}" for ch in ("train", "validation") for m in XGBOOST_METRICS),
        checkpoints=True,
    ),
    # RCF trains unsupervised on features only, sharded; the labelled `test` channel scores it.
    "random-cut-forest": Algorithm(
        (
            Channel("train", "train-features", "text/csv", "ShardedByS3Key"),
            Channel("test", "validation", "text/csv;label_size=1"),
        ),
        "text/csv",
        "application/json",
        "text/csv",
        "application/jsonlines",
        ("test:f1",),
    ),
    "blazingtext": Algorithm(
        (
            Channel("train", "train", "text/plain"),
            Channel("validation", "validation", "text/plain"),
        ),
        "application/json",
        "application/json",
        "application/jsonlines",
        "application/jsonlines",
        ("validation:accuracy",),  # supervised mode, the one labctl feeds
    ),
}


def algorithm_of(lab: Lab, model_step: str) -> str:
    """The built-in algorithm of the train step behind a model reference."""
    return lab.train_of(model_step).algorithm


def data_of(lab: Lab, model_step: str) -> str:
    """The data step the train step behind a model reference reads."""
    return lab.train_of(model_step).data


def emitted_metrics(algorithm: str, hyperparameters: dict[str, object]) -> tuple[str, ...]:
    """The objective metrics a built-in emits with these hyperparameters (XGBoost: only those of
    its `eval_metric`, else of its objective's default metric)."""
    algo = ALGORITHMS[algorithm]
    if algorithm != "xgboost":
        return algo.metrics
    chosen = hyperparameters.get("eval_metric")
    if chosen is None:
        family = str(hyperparameters.get("objective", "reg:squarederror")).partition(":")[0]
        chosen = XGBOOST_DEFAULT_METRIC.get(family)
        if chosen is None:
            return algo.metrics
    names = [m.strip() for m in str(chosen).split(",") if m.strip()]
    return tuple(f"{ch}:{m}" for ch in ("train", "validation") for m in names)


def spot_wait(step: TrainStep, *, checkpointed: bool = True) -> int | None:
    """MaxWaitTimeInSeconds of a managed-spot job of `step`, or None when it runs on demand.

    A job without checkpoints (an algorithm that does not write them, or a tuning trial, whose
    definition cannot give each trial its own checkpoint prefix) may wait at most an hour:
    the wait is capped there, and a job whose max_runtime is longer runs on demand.
    """
    if not step.spot:
        return None
    wait = step.max_wait or 2 * step.max_runtime
    if not (checkpointed and resumes(step.algorithm)):
        if step.max_runtime > MAX_WAIT_WITHOUT_CHECKPOINTS:
            return None
        wait = min(wait, MAX_WAIT_WITHOUT_CHECKPOINTS)
    return wait


def resumes(algorithm: str) -> bool:
    """Whether a job of `algorithm` resumes from /opt/ml/checkpoints (script mode does)."""
    algo = ALGORITHMS.get(algorithm)
    return algorithm in SCRIPT_MODE if algo is None else algo.checkpoints
