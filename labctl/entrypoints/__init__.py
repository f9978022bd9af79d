"""The training and inference scripts that run a lab's train steps off the cloud.

Each module follows the SageMaker contract (`contract.py`): `python -m labctl.entrypoints.<name>`
trains from `/opt/ml/input/data/<channel>` into `/opt/ml/model`, and `model_fn`, `input_fn`,
`predict_fn`, `output_fn` serve the model (`labctl.serving`). Optional module attributes:
`CONTENT_TYPE` (what its endpoint expects, default text/csv), `BATCH_CONTENT_TYPE` (what its batch
transform reads, default CONTENT_TYPE) and `batch_input(src, dst, schema)` (turns a validation
channel into batch-transform input; the default drops the label column).

A train step names its script in one of two ways: a built-in cloud algorithm (`algorithm:
xgboost`) maps to the stand-in below; script mode (`entry_point: recommender`) runs
`labctl.entrypoints.recommender`, the same script the cloud targets upload.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType
from typing import Any

# Framework algorithms: the step's own `entry_point` runs in the framework's container (SageMaker
# script mode) or, locally, as one process per instance (torch.distributed ranks).
SCRIPT_MODE = ("pytorch", "huggingface")

# a hyperparameter naming an earlier step -> the input channel that carries that step's model
MODEL_CHANNELS = {"distill_from": "teacher"}


def model_channels(hyperparameters: dict[str, Any]) -> dict[str, str]:
    """Channel -> the step whose trained model it carries (a distillation's teacher)."""
    return {
        channel: str(hyperparameters[hp])
        for hp, channel in MODEL_CHANNELS.items()
        if hyperparameters.get(hp)
    }


@dataclass(frozen=True)
class EntryPoint:
    """A script that trains and serves one train step's model."""

    module: str
    stands_in: str  # what it is, as the progress line says it

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)

    def content_type(self) -> str:
        """The request content type of its endpoint."""
        return getattr(self.load(), "CONTENT_TYPE", "text/csv")

    def batch_content_type(self) -> str:
        """The content type of its batch-transform input and output."""
        return getattr(self.load(), "BATCH_CONTENT_TYPE", self.content_type())


# built-in cloud algorithm -> the script that stands in for it off the cloud
BUILT_IN: dict[str, EntryPoint] = {
    "xgboost": EntryPoint("labctl.entrypoints.xgboost_tabular", "SageMaker built-in XGBoost"),
    "random-cut-forest": EntryPoint(
        "labctl.entrypoints.anomaly", "Random Cut Forest, as an IsolationForest"
    ),
    "blazingtext": EntryPoint(
        "labctl.entrypoints.text_classifier", "BlazingText, as TF-IDF + a linear model"
    ),
    "automl-image": EntryPoint(
        "labctl.entrypoints.automl_image", "AutoML Image, as a small model search"
    ),
}


def resolve(algorithm: str, entry_point: str | None) -> EntryPoint | None:
    """The script for a train step, or None when this package has none for it."""
    if entry_point:
        ep = EntryPoint(f"{__name__}.{entry_point}", f"{algorithm} script mode: {entry_point}")
    else:
        ep = BUILT_IN.get(algorithm)
    if ep is None or importlib.util.find_spec(ep.module) is None:
        return None
    return ep
