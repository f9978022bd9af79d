"""What the gcp target's Dataflow jobs, Vertex AI Pipelines and Model Monitoring cost.

Their prices are rows of the price catalog (labctl/data/prices.csv): `dataflow` per vCPU-hour
(streaming or batch), memory GB-hour and persistent disk GB-hour; `pipelines` per run;
`model-monitoring` per GB analysed. `estimate_lines` turns a lab's steps into `cost.estimate`
lines, and `dataflow_worker` prices one Dataflow worker for its ledger row.

Imports no Google SDK: `labctl plan` prices these steps without the gcp extra.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labctl.catalog import Lab
    from labctl.cost import EstimateLine
    from labctl.prices import PriceBook

STREAMING_DISK_GB = 30  # the worker disk labctl asks for (Streaming Engine keeps state off it)
# GB of memory per vCPU of each machine family (Compute Engine machine types)
MEMORY_PER_VCPU = {"n1-standard": 3.75, "n1-highmem": 6.5, "n1-highcpu": 0.9, "e2-standard": 4.0,
                   "n2-standard": 4.0}  # fmt: skip
PIPELINE_RUN_FEE = "run"  # the `instance_type` of the pipelines row
MONITORING_GB = "analysed-gb"  # the `instance_type` of the model-monitoring row
BYTES_PER_VALUE = 8  # a numeric feature value as Model Monitoring reads it
FEATURES_GUESS = 20  # features per row, for the estimate (the schema is known only once generated)


def machine_size(machine_type: str) -> tuple[int, float] | None:
    """(vCPUs, memory GB) of a Compute Engine machine type such as n1-standard-2, or None."""
    match = re.fullmatch(r"([a-z0-9]+-[a-z]+)-(\d+)", machine_type)
    if not match or match.group(1) not in MEMORY_PER_VCPU:
        return None
    vcpus = int(match.group(2))
    return vcpus, vcpus * MEMORY_PER_VCPU[match.group(1)]


def _rate(prices: PriceBook, usage: str, item: str, region: str) -> tuple[float, str] | None:
    row = next(
        (
            r
            for r in prices.rows("gcp")
            if (r["usage"], r["instance_type"], r["region"]) == (usage, item, region)
        ),
        None,
    )
    return (float(row["usd_per_hour"]), f"{row['source']} ({row['as_of']})") if row else None


def dataflow_worker(
    prices: PriceBook, machine_type: str, region: str, *, streaming: bool = True
) -> dict[str, Any]:
    """One Dataflow worker's price per hour as ledger fields (`price_per_hour`,
    `price_source`): vCPU + memory + disk; {} when a rate or the machine type is unknown."""
    size = machine_size(machine_type)
    vcpu = _rate(prices, "dataflow", "streaming-vcpu" if streaming else "batch-vcpu", region)
    memory = _rate(prices, "dataflow", "memory-gb", region)
    disk = _rate(prices, "dataflow", "pd-gb", region)
    if size is None or vcpu is None or memory is None or disk is None:
        return {}
    usd = size[0] * vcpu[0] + size[1] * memory[0] + STREAMING_DISK_GB * disk[0]
    source = (
        f"{size[0]} vCPU x ${vcpu[0]} + {size[1]:g} GB x ${memory[0]} + "
        f"{STREAMING_DISK_GB} GB PD x ${disk[0]}: {vcpu[1]}"
    )
    return {"price_per_hour": round(usd, 6), "price_source": source[:200]}


def schedule_runs(cron: str | None, hours: float) -> int:
    """How many times a cron schedule fires in `hours` (weekly, daily, hourly or every N hours
    are read exactly; anything else counts as daily)."""
    if not cron:
        return 0
    fields = cron.split()
    if len(fields) != 5:
        return 0
    minute, hour, dom, _, dow = fields
    if dow != "*" and dom == "*":
        per_hour = len(dow.split(",")) / (24 * 7)
    elif hour == "*" and minute != "*":
        per_hour = 1.0
    elif hour.startswith("*/"):
        per_hour = 1 / int(hour[2:])
    else:
        per_hour = len(hour.split(",")) / 24
    return int(hours * per_hour)


def estimate_lines(
    lab: Lab, prices: PriceBook, region: str, hours: float
) -> tuple[list[EstimateLine], list[str]]:
    """The lab's Dataflow, Pipelines and Model Monitoring steps as `cost.estimate` lines (and
    what could not be priced), for a lab up `hours` (what `up` commits to)."""
    from labctl.catalog import DataStep, MonitorStep, PipelineStep, ServiceStep, TrainStep
    from labctl.cost import EstimateLine, priced_line

    lines: list[EstimateLine] = []
    unpriced: list[str] = []
    for step in lab.steps:
        match step:
            case ServiceStep() if step.service == "dataflow":
                machine = str(step.settings.get("machine_type", "n1-standard-2"))
                workers = int(step.settings.get("max_workers", 1))  # type: ignore[arg-type]
                worker = dataflow_worker(prices, machine, region)
                if not worker:
                    unpriced.append(f"{step.name}: Dataflow {machine} in {region}")
                    continue
                per = worker["price_per_hour"]
                lines.append(
                    EstimateLine(
                        step.name, "service", machine, workers, round(hours, 4),
                        per, round(per * workers * hours, 4),
                        f"Dataflow streaming, up to {workers} workers while up; Streaming "
                        "Engine data extra",
                    )
                )  # fmt: skip
            case PipelineStep():
                runs = 1 + schedule_runs(step.schedule, hours)
                fee = _rate(prices, "pipelines", PIPELINE_RUN_FEE, region)
                if fee is None:
                    unpriced.append(f"{step.name}: Vertex AI Pipelines run in {region}")
                else:
                    lines.append(
                        EstimateLine(step.name, "pipeline", PIPELINE_RUN_FEE, runs, 0, None,
                                     round(fee[0] * runs, 4), f"{runs} run(s) x ${fee[0]}")
                    )  # fmt: skip
                for name in step.steps:
                    task = lab.step(name)
                    if isinstance(task, TrainStep):
                        lines.append(priced_line(
                            prices, cloud="gcp", region=region, usage="training", step=step.name,
                            kind="pipeline", instance_type=task.instance_type,
                            count=task.instance_count, hours=runs * task.expected_runtime / 3600,
                            note=f"{name} retrained in each of {runs} run(s)", unpriced=unpriced,
                        ))  # fmt: skip
            case MonitorStep():
                rate = _rate(prices, "model-monitoring", MONITORING_GB, region)
                data = next((s for s in lab.steps if isinstance(s, DataStep)), None)
                if rate is None or data is None:
                    unpriced.append(f"{step.name}: Vertex AI Model Monitoring in {region}")
                    continue
                rows = data.cloud_rows or data.rows
                gb = rows * FEATURES_GUESS * BYTES_PER_VALUE / 1e9
                lines.append(
                    EstimateLine(step.name, "monitor", MONITORING_GB, 1, 0, None,
                                 round(rate[0] * gb, 4),
                                 f"~{gb:.3g} GB training baseline x ${rate[0]}/GB analysed; "
                                 f"{step.schedule} runs over the logged requests extra")
                )  # fmt: skip
    return lines, unpriced
