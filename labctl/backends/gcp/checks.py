"""What the gcp target can do for a lab: check() findings and the module inputs."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from labctl import datagen, entrypoints
from labctl.backends.base import Finding
from labctl.backends.gcp import bigquery as gcp_bigquery
from labctl.backends.gcp.images import (
    TRAINING_IMAGES,
    _unservable,
)
from labctl.backends.gcp.pipelines import task_plan
from labctl.backends.modules import BIGQUERY
from labctl.catalog import (
    BatchStep,
    DataStep,
    DeployStep,
    Lab,
    MonitorStep,
    PipelineStep,
    ServiceStep,
    TrainStep,
    TuneStep,
)
from labctl.errors import LabctlError

# what Model Monitoring v2 checks here: feature drift, and prediction drift for model quality
# (labctl does not collect ground truth for the accuracy metrics model quality also has)
MONITORED = ("data-quality", "model-quality")


class Checks:
    # --- what this target can do ------------------------------------------------------------

    def check(self, lab: Lab) -> list[Finding]:
        findings = super().check(lab)
        adc_project = None
        try:  # Terraform's provider and the SDK calls both need credentials
            _, adc_project = self._adc()
        except LabctlError as exc:
            findings.append(Finding("", f"{exc.message}: {exc.hint}"))
        if not (self._project or adc_project):
            findings.append(
                Finding(
                    "",
                    "no Google Cloud project for the module and the Vertex AI calls: set "
                    "`[gcp] project` in the labctl config, or GOOGLE_CLOUD_PROJECT",
                )
            )
        for step in lab.steps:
            match step:
                case DataStep() if not datagen.available(step.generator):
                    findings.append(Finding(step.name, f"no generator '{step.generator}' yet"))
                case TrainStep() if step.algorithm == "automl-image":
                    pass
                case TrainStep() if step.algorithm not in TRAINING_IMAGES:
                    findings.append(
                        Finding(
                            step.name,
                            f"'{step.algorithm}' has no prebuilt Vertex AI training container in "
                            f"labctl (known: automl-image, {', '.join(TRAINING_IMAGES)})",
                        )
                    )
                case TrainStep() if entrypoints.resolve(step.algorithm, step.entry_point) is None:
                    findings.append(
                        Finding(
                            step.name,
                            f"no entry point '{step.entry_point}' to run in the container",
                        )
                    )
                case TuneStep() if step.strategy == "hyperband":
                    findings.append(
                        Finding(
                            step.name,
                            "Vertex AI Vizier has no Hyperband: Bayesian search with median "
                            "automated stopping instead",
                            fatal=False,
                        )
                    )
                case DeployStep():
                    # data capture: the module makes the dataset its logs go to (modules.py)
                    refs = [v.model for v in step.variants] or [step.model]
                    for ref in dict.fromkeys(refs):
                        reason = _unservable(lab, ref)
                        if reason:
                            findings.append(Finding(step.name, reason))
                case BatchStep():
                    reason = _unservable(lab, step.model)
                    if reason or lab.train_of(step.model).algorithm == "automl-image":
                        findings.append(
                            Finding(
                                step.name,
                                reason
                                or "batch prediction of AutoML image models (image files in, "
                                "not pixel rows) is not built yet; batch a custom model",
                            )
                        )
                case MonitorStep() if any(c not in MONITORED for c in step.checks):
                    lacking = [c for c in step.checks if c not in MONITORED]
                    findings.append(
                        Finding(
                            step.name,
                            "Vertex AI Model Monitoring v2 watches the drift of the logged "
                            f"features and predictions; {', '.join(lacking)} is not checked",
                            fatal=False,
                        )
                    )
                case PipelineStep():
                    try:
                        plan = task_plan(lab, step)
                    except LabctlError as exc:
                        findings.append(Finding(step.name, exc.message))
                        continue
                    findings += [
                        Finding(step.name, f"'{name}' is left out of the pipeline: {why}", False)
                        for name, kind, why in plan
                        if kind is None
                    ]
                case ServiceStep() if step.service == "dataflow":
                    if str(step.settings.get("source", "pubsub")) != "pubsub":
                        findings.append(
                            Finding(step.name, "Dataflow reads only a Pub/Sub source here")
                        )
                case ServiceStep() if step.service in BIGQUERY:
                    try:
                        gcp_bigquery.kind(step)
                    except LabctlError as exc:
                        findings.append(Finding(step.name, exc.message, fatal=not step.optional))
                case ServiceStep():
                    findings.append(
                        Finding(
                            step.name,
                            f"labctl does not provision '{step.service}' on gcp yet"
                            + ("; skipped" if step.optional else ""),
                            fatal=not step.optional,
                        )
                    )
        return findings

    def module_inputs(self, ctx_workspace: Path, lab: Lab | None = None) -> dict[str, Any]:
        """The module mixin's inputs, with the ADC project when none is configured."""
        inputs = super().module_inputs(ctx_workspace, lab)
        if not inputs["project"]:
            with contextlib.suppress(LabctlError):
                inputs["project"] = self.project
        return inputs
