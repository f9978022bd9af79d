"""Dataflow on this machine: the step's Apache Beam pipeline on the DirectRunner.

The `dataflow` step of sales-forecasting runs `labctl.pipelines.beam_sales_features`, the same
pipeline the gcp target launches on Dataflow, over the data step's sales (`raw/train.csv`, as
a bounded source standing in for Pub/Sub) into JSON lines files under
`<bucket>/dataflow/<step>/`, one per window size in `settings.windows_minutes`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl.analogues.bigquery import _data_result
from labctl.errors import BackendError, MissingExtra
from labctl.pipelines import BEAM_EXTRA

if TYPE_CHECKING:
    from labctl.backends.base import Context
    from labctl.catalog import ServiceStep

DEFAULT_WINDOWS = (60, 1440)


def windows(step: ServiceStep) -> list[int]:
    """The step's window sizes in minutes (`settings.windows_minutes`)."""
    value = step.settings.get("windows_minutes", list(DEFAULT_WINDOWS))
    sizes = value if isinstance(value, list) else [value]
    try:
        result = [int(m) for m in sizes]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        result = []
    if not result or any(m <= 0 for m in result):
        raise BackendError(
            f"step '{step.name}': windows_minutes must be positive whole minutes, got {value!r}"
        )
    return result


def dataflow(step: ServiceStep, ctx: Context) -> dict[str, Any]:
    """The Beam pipeline on the DirectRunner; skipped with a warning (optional step) or refused
    when Apache Beam is not installed."""
    try:
        from labctl.pipelines import beam_sales_features
    except ImportError:
        if not step.optional:
            raise MissingExtra("beam", "apache_beam") from None
        ctx.reporter.warn(f"step '{step.name}': Apache Beam is not installed; {BEAM_EXTRA}")
        return {"skipped": f"Apache Beam is not installed: {BEAM_EXTRA}"}
    source = Path(_data_result(step, ctx)["dir"]) / "raw" / "train.csv"
    if not source.is_file():
        raise BackendError(f"step '{step.name}': the data step wrote no {source}")
    out = Path(ctx.infra.get("bucket") or ctx.workspace / "bucket") / "dataflow" / step.name
    outputs = beam_sales_features.run_local(source, out, windows(step))
    return {
        "runner": "DirectRunner",
        "pipeline": beam_sales_features.MODULE,
        "input": str(source),
        "outputs": outputs,
        "analogue": "Dataflow streaming job from Pub/Sub -> Apache Beam DirectRunner over the CSV",
    }


SERVICES = {"dataflow": dataflow}
