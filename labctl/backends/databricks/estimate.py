"""Estimate lines of what the databricks target bills beyond the step kinds `cost.estimate`
prices itself: Delta Live Tables updates (DBUs by edition) and the run of the lab's Workflows job
(its launcher tasks' job clusters, its pipeline task's update). No SDK: `plan` prices without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.backends.databricks import lab_inputs, nodes
from labctl.catalog import STUDY_SESSION_HOURS, PipelineStep, ServiceStep, TrainStep

if TYPE_CHECKING:
    from labctl.catalog import Lab
    from labctl.cost import EstimateLine
    from labctl.prices import PriceBook

DLT_UPDATE_HOURS = 0.25  # one triggered update of the lab's pipeline, cluster start included
DLT_NODES = 2  # a classic DLT cluster: driver + `dlt_workers` (1) of the module's default node
LAUNCHER_TASK_HOURS = 0.1  # a workflow task that is not training (features, promote): ~6 min


def estimate_lines(
    lab: Lab, prices: PriceBook, region: str, hours: float | None = None
) -> tuple[list[EstimateLine], list[str]]:
    """(lines, unpriced) for the lab's pipelines; `hours`: how long a continuous pipeline stays
    up (the study session when not given)."""
    from labctl.cost import priced_line

    lines: list[EstimateLine] = []
    unpriced: list[str] = []
    node = nodes.DEFAULTS["aws"][0]  # the price catalog's node names are AWS's
    for step in lab_inputs.dlt_steps(lab):
        continuous = str(step.settings.get("mode", "triggered")) == "continuous"
        run_hours = (hours or STUDY_SESSION_HOURS) if continuous else DLT_UPDATE_HOURS
        edition = lab_inputs.edition(step)
        note = (
            f"DLT {edition}, continuous until `labctl down`"
            if continuous
            else f"DLT {edition}, one triggered update (~{DLT_UPDATE_HOURS * 60:.0f} min)"
        )
        line = priced_line(prices, cloud="databricks", region=region,
                           usage=f"dlt-{edition.lower()}", step=step.name, kind="pipeline",
                           instance_type=node, count=DLT_NODES, hours=run_hours, note=note,
                           unpriced=unpriced)  # fmt: skip
        lines.append(line)
    for step in (s for s in lab.steps if isinstance(s, PipelineStep)):
        lines += _workflow_lines(lab, step, prices, region, node, unpriced)
    return lines, unpriced


def _workflow_lines(
    lab: Lab, step: PipelineStep, prices: PriceBook, region: str, node: str, unpriced: list[str]
) -> list[EstimateLine]:
    """One run of the Workflows job `up` starts: its train tasks' and other launcher tasks' job
    clusters (jobs compute), its DLT pipeline task's update."""
    from labctl.cost import priced_line

    def line(usage: str, itype: str, count: int, hours: float, note: str) -> EstimateLine:
        return priced_line(prices, cloud="databricks", region=region, usage=usage,
                           step=step.name, kind="pipeline", instance_type=itype, count=count,
                           hours=hours, note=note, unpriced=unpriced)  # fmt: skip

    members = [lab.step(name) for name in step.steps]
    nightly = f"; again each `{step.schedule}` while the lab is up" if step.schedule else ""
    lines: list[EstimateLine] = []
    own = ("feature-store", "mlflow-model-registry")  # services that are launcher tasks
    launcher = [m.name for m in members if m.kind in ("data", "deploy")
                or (isinstance(m, ServiceStep) and m.service in own)]  # fmt: skip
    for m in members:
        if isinstance(m, TrainStep):
            hours = m.expected_runtime / 3600
            lines.append(line("jobs-compute", m.instance_type, m.instance_count, hours,
                              f"workflow task {m.name}{nightly}"))  # fmt: skip
        elif isinstance(m, ServiceStep) and m.service == "delta-live-tables":
            usage = f"dlt-{lab_inputs.edition(m).lower()}"
            lines.append(line(usage, node, DLT_NODES, DLT_UPDATE_HOURS,
                              f"workflow task {m.name}: one DLT update{nightly}"))  # fmt: skip
    if launcher:
        hours = LAUNCHER_TASK_HOURS * len(launcher)
        lines.append(line("jobs-compute", node, 1, hours,
                          f"workflow tasks {', '.join(launcher)}{nightly}"))  # fmt: skip
    return lines
