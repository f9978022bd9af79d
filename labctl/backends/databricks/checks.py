"""What the databricks target can do for a lab: check() findings."""

from __future__ import annotations

from labctl import datagen
from labctl.backends.base import Finding
from labctl.backends.databricks.services import SERVICES_AS_JOBS
from labctl.backends.databricks.training import _entry
from labctl.catalog import (
    DataStep,
    DeployStep,
    Lab,
    PipelineStep,
    ServiceStep,
    TrainStep,
)


class Checks:
    # --- what this target can do ------------------------------------------------------------

    def check(self, lab: Lab) -> list[Finding]:
        findings = super().check(lab)
        for step in lab.steps:
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
                case ServiceStep() if step.service in SERVICES_AS_JOBS:
                    findings.append(
                        Finding(
                            step.name,
                            f"'{step.service}' runs as a job task writing Parquet tables (not a "
                            "managed DLT pipeline / Unity Catalog feature tables yet)",
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
                case PipelineStep():
                    findings.append(
                        Finding(
                            step.name, "the Workflows job is not created yet; steps run once", False
                        )
                    )
                case DeployStep() if step.data_capture_percent:
                    findings.append(
                        Finding(
                            step.name,
                            "inference tables (data capture) need Unity Catalog; not enabled",
                            fatal=False,
                        )
                    )
        return findings
