"""Built-in SageMaker algorithms: how each is fed and called (SDK-free)."""

from __future__ import annotations

from dataclasses import dataclass

from labctl.catalog import Lab


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


ALGORITHMS: dict[str, Algorithm] = {
    "xgboost": Algorithm(
        (Channel("train", "train", "text/csv"), Channel("validation", "validation", "text/csv")),
        "text/csv",
        "text/csv",
        "text/csv",
        "text/csv",
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
    ),
}


def algorithm_of(lab: Lab, model_step: str) -> str:
    """The built-in algorithm of the train step behind a model reference."""
    return lab.train_of(model_step).algorithm


def data_of(lab: Lab, model_step: str) -> str:
    """The data step the train step behind a model reference reads."""
    return lab.train_of(model_step).data
