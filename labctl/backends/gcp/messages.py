"""Request building blocks of the gcp target: pure functions returning Vertex AI protobuf
messages (or plain values), tested on their output.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from google.cloud import aiplatform_v1 as aip
from google.protobuf import json_format

from labctl import naming
from labctl.backends.base import Context, hp_string
from labctl.catalog import (
    CategoricalRange,
    ContinuousRange,
    TuneStep,
)
from labctl.errors import UsageError

SCALE = {
    "auto": "SCALE_TYPE_UNSPECIFIED",
    "linear": "UNIT_LINEAR_SCALE",
    "logarithmic": "UNIT_LOG_SCALE",
    "reverse-logarithmic": "UNIT_REVERSE_LOG_SCALE",
}
ALGORITHMS = {  # Vertex AI Vizier: ALGORITHM_UNSPECIFIED is its Bayesian optimisation
    "bayesian": "ALGORITHM_UNSPECIFIED",
    "random": "RANDOM_SEARCH",
    "grid": "GRID_SEARCH",
    "hyperband": "ALGORITHM_UNSPECIFIED",
}


def machine_spec(instance_type: str) -> aip.MachineSpec:
    """`n1-standard-8` or `n1-standard-8+NVIDIA_TESLA_T4x1` -> MachineSpec."""
    machine, *accelerators = instance_type.split("+")
    spec = aip.MachineSpec(machine_type=machine)
    if accelerators:
        match = re.fullmatch(r"([A-Z0-9_]+?)(?:x(\d+))?", accelerators[0].strip())
        if not match:
            raise UsageError(
                f"gcp: cannot read accelerator '{accelerators[0]}' "
                "(expected e.g. NVIDIA_TESLA_T4x1)"
            )
        spec.accelerator_type = match.group(1)
        spec.accelerator_count = int(match.group(2) or 1)
    return spec


def study_spec(step: TuneStep) -> aip.StudySpec:
    """The TuneStep as a Vertex AI Vizier StudySpec (metric tag, parameter specs, algorithm)."""
    P = aip.StudySpec.ParameterSpec
    params = []
    for key, rng in step.ranges.items():
        if isinstance(rng, CategoricalRange):
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in rng.values):
                params.append(
                    P(
                        parameter_id=key,
                        discrete_value_spec=P.DiscreteValueSpec(
                            values=sorted(float(v) for v in rng.values)
                        ),
                    )
                )
            else:
                params.append(
                    P(
                        parameter_id=key,
                        categorical_value_spec=P.CategoricalValueSpec(
                            values=[hp_string(v) for v in rng.values]
                        ),
                    )
                )
        elif isinstance(rng, ContinuousRange):
            params.append(
                P(
                    parameter_id=key,
                    scale_type=SCALE[rng.scaling],
                    double_value_spec=P.DoubleValueSpec(min_value=rng.min, max_value=rng.max),
                )
            )
        else:
            params.append(
                P(
                    parameter_id=key,
                    scale_type=SCALE[rng.scaling],
                    integer_value_spec=P.IntegerValueSpec(min_value=rng.min, max_value=rng.max),
                )
            )
    spec = aip.StudySpec(
        metrics=[
            aip.StudySpec.MetricSpec(
                metric_id=metric_tag(step.objective.name),
                goal="MAXIMIZE" if step.objective.goal == "maximize" else "MINIMIZE",
            )
        ],
        parameters=params,
        algorithm=ALGORITHMS[step.strategy],
    )
    if step.early_stopping or step.strategy == "hyperband":
        spec.median_automated_stopping_spec = aip.StudySpec.MedianAutomatedStoppingSpec()
    return spec


def traffic_percentages(weights: list[float]) -> list[int]:
    """Variant weights as whole percentages adding up to 100 (largest remainder)."""
    total = sum(weights)
    if total <= 0:
        return [100] + [0] * (len(weights) - 1)
    exact = [100 * w / total for w in weights]
    out = [math.floor(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: exact[i] - out[i], reverse=True)[
        : 100 - sum(out)
    ]:
        out[i] += 1
    return out


def metric_tag(name: str) -> str:
    """A metric name as a Vizier metric id (`validation:rmse` -> `validation_rmse`)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def vertex_name(base: str, run_id: str, limit: int = 128) -> str:
    """`<base>-<run>` within Vertex display-name limits (long bases keep a short hash)."""
    tail = f"-{run_id}"
    name = re.sub(r"[^a-zA-Z0-9_-]+", "-", base).strip("-") or "x"
    if len(name) + len(tail) > limit:
        digest = hashlib.sha256(base.encode()).hexdigest()[:5]
        name = name[: limit - len(tail) - 6].rstrip("-") + "-" + digest
    return name + tail


def _labels(ctx: Context) -> dict[str, str]:
    return naming.tags(ctx.run.engineer, ctx.lab_name, ctx.run.id)


def _fuse(uri: str) -> str:
    return "/gcs/" + uri.removeprefix("gs://")


def _seconds(start: Any, end: Any) -> float | None:
    if not start or not end:
        return None
    seconds = (end - start).total_seconds()
    return seconds if seconds > 0 else None


def _plain(value: Any) -> Any:
    """proto-plus / protobuf values as plain JSON-able Python."""
    if hasattr(value, "DESCRIPTOR"):
        return json_format.MessageToDict(value)
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or (
        hasattr(value, "__iter__") and not isinstance(value, str | bytes)
    ):
        return [_plain(v) for v in value]
    return value


def _instances(body: bytes, content_type: str) -> list[Any]:
    kind = content_type.split(";", 1)[0].strip().lower()
    try:
        if kind == "application/json":
            data = json.loads(body)
            items = data["instances"] if isinstance(data, dict) else data
        elif kind == "text/csv":
            items = [
                [float(x) if x.strip() else None for x in line.split(",")]
                for line in body.decode().splitlines()
                if line.strip()
            ]
        else:
            raise UsageError(f"gcp endpoints take application/json or text/csv, not {kind}")
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"cannot read the records to send: {exc}",
            hint='send {"instances": [...]} or CSV rows of features',
        ) from None
    if not isinstance(items, list) or not items:
        raise UsageError("no instances to send")
    return items
