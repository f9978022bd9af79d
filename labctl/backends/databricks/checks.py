"""What the databricks target can do for a lab: check() findings (which include whether the
workspace has Unity Catalog: `plan` says so where a step then runs differently)."""

from __future__ import annotations

from labctl import config, datagen
from labctl.backends.base import Finding
from labctl.backends.databricks import lab_inputs, nodes
from labctl.backends.databricks.monitoring import monitored
from labctl.backends.databricks.services import SERVICES_AS_JOBS
from labctl.backends.databricks.training import _entry
from labctl.backends.databricks.workflow import WORKFLOW_KINDS
from labctl.catalog import (
    DataStep,
    DeployStep,
    Lab,
    PipelineStep,
    ServiceStep,
    Step,
    TrainStep,
    TuneStep,
)


class Checks:
    # --- what this target can do ------------------------------------------------------------

    def check(self, lab: Lab) -> list[Finding]:
        findings = super().check(lab)
        cloud = config.settings().databricks.cloud
        dlt_source = lab_inputs.bronze(lab)
        store = self.metastore()  # Unity Catalog, or the workspace registry (unity.py)
        for step in lab.steps:
            findings += _approximations(step)
            itype = getattr(step, "instance_type", None)
            if isinstance(step, TrainStep) and itype and nodes.node_type(cloud, itype) is None:
                findings.append(Finding(step.name, nodes.no_node_type(cloud, itype)))
            match step:
                case DataStep() if not datagen.available(step.generator):
                    findings.append(Finding(step.name, f"no generator '{step.generator}' yet"))
                case TrainStep() if not step.entry_point or _entry(step) is None:
                    findings.append(
                        Finding(
                            step.name,
                            f"'{step.algorithm}' needs an `entry_point` script labctl ships "
                            "(script mode) to run on Databricks",
                        )
                    )
                case ServiceStep() if step.service == "delta-live-tables" and not dlt_source:
                    findings.append(
                        Finding(
                            step.name,
                            "the Delta Live Tables pipeline labctl ships reads the bronze table of "
                            f"a `{lab_inputs.DLT_GENERATOR}` data step; this lab has none",
                        )
                    )
                case ServiceStep() if step.service == "delta-live-tables":
                    pass  # a databricks_pipeline of the lab's module (dlt.py runs its update)
                case ServiceStep() if step.service in SERVICES_AS_JOBS and not store.enabled:
                    findings.append(
                        Finding(
                            step.name,
                            f"no Unity Catalog ({store.reason}): '{step.service}' writes its "
                            "tables as Parquet in the lab's DBFS folder, without primary keys"
                            + (" or Lakehouse Monitoring" if monitored(step) else ""),
                            fatal=False,
                        )
                    )
                case ServiceStep() if step.service in SERVICES_AS_JOBS:
                    pass  # a job task writing Unity Catalog tables with primary keys
                case ServiceStep() if step.service == "mlflow-model-registry" and not store.enabled:
                    findings.append(
                        Finding(
                            step.name,
                            f"no Unity Catalog ({store.reason}): the model goes to the workspace "
                            "model registry",
                            fatal=False,
                        )
                    )
                case ServiceStep() if step.service not in (
                    "mlflow-tracking",
                    "mlflow-model-registry",
                ):
                    findings.append(
                        Finding(
                            step.name,
                            f"labctl does not provision '{step.service}' on databricks yet",
                            fatal=not step.optional,
                        )
                    )
                case PipelineStep() if unrunnable := [
                    s for s in step.steps if lab.step(s).kind not in WORKFLOW_KINDS
                ]:
                    findings.append(
                        Finding(
                            step.name,
                            f"step(s) {', '.join(unrunnable)} cannot be tasks of a Workflows job",
                        )
                    )
                case DeployStep() if step.data_capture_percent and not store.enabled:
                    findings.append(
                        Finding(
                            step.name,
                            f"no Unity Catalog ({store.reason}): inference tables (data "
                            "capture) are not written",
                            fatal=False,
                        )
                    )
        return findings


def _approximations(step: Step) -> list[Finding]:
    """What the step asks for that Databricks runs differently (non-fatal: it still runs)."""
    said: list[str] = []
    match step:
        case TuneStep():
            if step.strategy in ("grid", "hyperband"):
                said.append(
                    f"the '{step.strategy}' strategy runs as Optuna TPE (Bayesian) search "
                    "in the job (no grid or Hyperband sampler is used)"
                )
            if step.early_stopping:
                said.append("early_stopping is not applied: every trial runs to the end")
        case TrainStep() if step.spot and not (
            step.algorithm == "spark-mllib" and step.instance_count > 0
        ):
            said.append(
                "spot applies to workers only and this job runs on a single node: it runs on demand"
            )
        case DeployStep():
            if len(step.variants) > 1:
                served = max(step.variants, key=lambda v: v.weight)
                said.append(
                    f"only variant '{served.name}' ({served.model}) is served: the other "
                    f"{len(step.variants) - 1} variant(s) and the traffic split are not deployed"
                )
    return [Finding(step.name, reason, fatal=False) for reason in said]
