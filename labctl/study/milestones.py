"""A lab's milestones as step sets: which steps `up --milestone N` runs, and which exam domains
each milestone exercises.

Design choice: the catalog says which domains a *lab* covers, not which milestone covers which.
A milestone is credited with a lab domain when one of its steps has a matching theme (data,
eda, modeling, ops, security: `STEP_THEMES`, `SERVICE_THEMES`, `DOMAIN_THEMES`); a lab domain
that no milestone matches (or whose id has no theme, e.g. problem framing) is credited to every
milestone of the lab. So finishing a whole lab always covers all its domains fully.
"""

from __future__ import annotations

from dataclasses import replace

from labctl.catalog import (
    BatchStep,
    DeployStep,
    Lab,
    MonitorStep,
    ServiceStep,
    StepBase,
    TrainStep,
    TuneStep,
)
from labctl.cost import Estimate
from labctl.errors import UsageError

STEP_THEMES = {
    "data": {"data"},
    "train": {"modeling"},
    "tune": {"modeling"},
    "deploy": {"ops"},
    "batch": {"ops"},
    "monitor": {"ops"},
    "pipeline": {"ops"},
}
# service kind (prefix match) -> themes; a service kind not listed counts as ops
SERVICE_THEMES = {
    "kinesis": {"data"},
    "firehose": {"data"},
    "glue": {"data"},
    "msk": {"data"},
    "managed-flink": {"data"},
    "dynamodb": {"data"},
    "s3": {"data"},
    "lake-formation": {"data"},
    "sagemaker-feature-store": {"data"},
    "feature-store": {"data"},
    "deequ": {"data"},
    "bigquery": {"data"},
    "dataflow": {"data"},
    "pubsub": {"data"},
    "delta": {"data"},
    "efs": {"data"},
    "sagemaker-processing": {"data"},
    "sagemaker-notebook": {"eda"},
    "sagemaker-studio": {"eda"},
    "notebook": {"eda"},
    "comprehend": {"modeling"},
    "inference-recommender": {"modeling"},
    "kms": {"security"},
    "vpc": {"security"},
    "iam": {"security"},
    "cloudtrail": {"security"},
    "waf": {"security"},
    "secrets-manager": {"security"},
    "organizations": {"security"},
    "aws-config": {"security"},
    "cost-allocation-tags": {"security"},
}
# exam domain id -> themes; ids not listed are credited to the whole lab
DOMAIN_THEMES = {
    "data-engineering": {"data"},
    "data-preparation": {"data"},
    "feature-engineering": {"data"},
    "exploratory-data-analysis": {"eda"},
    "modeling": {"modeling"},
    "model-development": {"modeling"},
    "model-training": {"modeling"},
    "advanced-ml": {"modeling"},
    "ml-implementation-operations": {"ops"},
    "deployment-orchestration": {"ops"},
    "model-deployment": {"ops"},
    "pipeline-automation": {"ops"},
    "monitoring": {"ops"},
    "monitoring-maintenance-security": {"ops", "security"},
    "threat-detection-incident-response": {"security"},
    "security-logging-monitoring": {"security"},
    "infrastructure-security": {"security"},
    "identity-access-management": {"security"},
    "data-protection": {"security"},
    "management-security-governance": {"security"},
    "software-development-security": {"security", "ops"},
}


def step_themes(step: StepBase) -> set[str]:
    if isinstance(step, ServiceStep):
        for prefix, themes in SERVICE_THEMES.items():
            if step.service.startswith(prefix):
                return themes
        return {"ops"}
    return STEP_THEMES.get(step.kind, set())


def milestone_domains(lab: Lab) -> list[set[str]]:
    """Per milestone (in order), the lab's qualified domain ids ('cert/domain') it exercises."""
    themes = [
        set().union(*(step_themes(lab.step(s)) for s in m.steps)) if m.steps else set()
        for m in lab.milestones
    ]
    credited: list[set[str]] = [set() for _ in lab.milestones]
    for cert, domains in lab.domains.items():
        for domain in domains:
            wanted = DOMAIN_THEMES.get(domain, set())
            hits = [i for i, t in enumerate(themes) if t & wanted]
            for i in hits or range(len(lab.milestones)):
                credited[i].add(f"{cert}/{domain}")
    return credited


def needs(step: StepBase) -> list[str]:
    """The other steps a step needs to have run first (a pipeline only names the steps it chains:
    its definition needs none of them run)."""
    match step:
        case TrainStep():
            return [step.data]
        case TuneStep():
            return [step.train]
        case DeployStep():
            return [step.model, *(v.model for v in step.variants)]
        case BatchStep():
            return [step.model, step.data]
        case MonitorStep():
            return [step.endpoint]
    return []


def through(lab: Lab, lab_name: str, milestone: int) -> Lab:
    """The lab restricted to the steps of milestones 1..`milestone`, in lab order.

    Raises UsageError when `milestone` is out of range or a kept step needs a step of a later
    milestone.
    """
    check_number(lab, lab_name, milestone)
    names = {s for m in lab.milestones[:milestone] for s in m.steps}
    steps = [s for s in lab.steps if s.name in names]
    for step in steps:
        missing = [r for r in needs(step) if r not in names]
        if missing:
            later = milestone_of(lab, missing[0])
            where = f"comes in milestone {later}" if later else "is in no milestone"
            raise UsageError(
                f"--milestone {milestone}: step '{step.name}' needs step '{missing[0]}', which "
                f"{where} of '{lab_name}'",
                hint=f"use --milestone {later}" if later else None,
            )
    return lab.model_copy(update={"steps": steps})


def check_number(lab: Lab, lab_name: str, milestone: int) -> None:
    """UsageError unless `milestone` is one of the lab's (1-based)."""
    count = len(lab.milestones)
    if not 1 <= milestone <= count:
        raise UsageError(
            f"--milestone {milestone}: lab '{lab_name}' has milestones 1 to {count}",
            hint=f"`labctl show {lab_name}` lists them",
        )


def milestone_of(lab: Lab, step_name: str) -> int | None:
    """The (1-based) first milestone that lists a step, or None."""
    for i, m in enumerate(lab.milestones, 1):
        if step_name in m.steps:
            return i
    return None


def done_by_steps(lab: Lab, completed: set[str]) -> list[int]:
    """The (1-based) milestones all of whose steps are in `completed` (milestones without steps
    are done only by hand)."""
    return [i for i, m in enumerate(lab.milestones, 1) if m.steps and set(m.steps) <= completed]


def only_steps(estimate: Estimate, names: set[str]) -> Estimate:
    """The part of an estimate for some of its steps (what extending a lab in place adds)."""
    return replace(
        estimate,
        lines=[line for line in estimate.lines if line.step in names],
        unpriced=[u for u in estimate.unpriced if u.split(":", 1)[0] in names],
    )
