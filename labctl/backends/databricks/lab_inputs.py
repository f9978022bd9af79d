"""The databricks module's inputs that come from a lab's steps (no SDK: the render-only stand-in
uses them too): its Delta Live Tables pipelines and the pipeline source file labctl ships."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labctl.catalog import Lab, ServiceStep

DLT_SOURCE = Path(__file__).resolve().parents[2] / "pipelines" / "dlt_features.py"
DLT_GENERATOR = "ecommerce-transactions"  # the bronze table the shipped pipeline reads
EDITIONS = ("CORE", "PRO", "ADVANCED")


def dlt_steps(lab: Lab) -> list[ServiceStep]:
    from labctl.catalog import ServiceStep

    return [s for s in lab.steps if isinstance(s, ServiceStep) and s.service == "delta-live-tables"]


def edition(step: ServiceStep) -> str:
    """The step's DLT product edition (ADVANCED unless it names another)."""
    value = str(step.settings.get("edition", "ADVANCED")).upper()
    return value if value in EDITIONS else "ADVANCED"


def bronze(lab: Lab) -> str | None:
    """The bronze Parquet under the lab's data root: what the lab's data step writes."""
    from labctl.catalog import DataStep

    data = next((s for s in lab.steps if isinstance(s, DataStep)), None)
    if data is None or data.generator != DLT_GENERATOR:
        return None
    return f"data/{data.name}/raw/transactions.parquet"


def lab_inputs(lab: Lab | None) -> dict[str, Any]:
    """`dlt_pipelines` and `dlt_source_file` for a lab with a delta-live-tables step; nothing
    otherwise (the module's defaults: no pipeline)."""
    steps = dlt_steps(lab) if lab is not None else []
    source = bronze(lab) if lab is not None else None
    if not steps or source is None:
        return {}
    pipelines = {
        s.name: {
            "edition": edition(s),
            "continuous": str(s.settings.get("mode", "triggered")) == "continuous",
            "target_schema": str(s.settings.get("target_schema", "dlt")),
            "bronze": source,
            "expectations": bool(s.settings.get("expectations", True)),
        }
        for s in steps
    }
    return {"dlt_pipelines": pipelines, "dlt_source_file": str(DLT_SOURCE)}
