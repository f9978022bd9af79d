"""Estimate lines of what the databricks target bills beyond the step kinds `cost.estimate`
prices itself: Delta Live Tables updates (DBUs by edition). No SDK: `plan` prices without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.backends.databricks import lab_inputs, nodes
from labctl.catalog import STUDY_SESSION_HOURS

if TYPE_CHECKING:
    from labctl.catalog import Lab
    from labctl.cost import EstimateLine
    from labctl.prices import PriceBook

DLT_UPDATE_HOURS = 0.25  # one triggered update of the lab's pipeline, cluster start included
DLT_NODES = 2  # a classic DLT cluster: driver + `dlt_workers` (1) of the module's default node


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
    return lines, unpriced
