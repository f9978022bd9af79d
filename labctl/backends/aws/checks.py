"""What `check()` finds in train, tune, deploy and batch steps before anything is created
(SDK-free): the algorithm's image in the region, objective metrics the algorithm emits, valid
tuning ranges, managed-spot waits SageMaker accepts; for script mode (scriptmode.py) the entry
point, the framework images and the distribution."""

from __future__ import annotations

from labctl.backends.aws import images, scriptmode
from labctl.backends.aws.algorithms import (
    ALGORITHMS,
    MAX_WAIT_WITHOUT_CHECKPOINTS,
    emitted_metrics,
    spot_wait,
)
from labctl.backends.base import Finding
from labctl.catalog import BatchStep, ContinuousRange, DeployStep, Lab, TrainStep, TuneStep
from labctl.errors import LabctlError


def image_finding(step_name: str, image: str, region: str) -> list[Finding]:
    """A fatal finding when `image` has no registry in `region`."""
    try:
        images.image_uri(image, region)
    except LabctlError as exc:
        return [Finding(step_name, f"{exc.message}; {exc.hint}")]
    return []


def train_findings(step: TrainStep, region: str) -> list[Finding]:
    if scriptmode.is_script_mode(step.algorithm):
        findings = scriptmode.train_findings(step, region)
        return findings + _spot_findings(step, step.name, checkpointed=True)
    if step.algorithm not in ALGORITHMS:
        return [
            Finding(
                step.name,
                f"'{step.algorithm}' is not a built-in algorithm labctl runs on "
                f"SageMaker yet (built-in: {', '.join(ALGORITHMS)})",
            )
        ]
    findings = image_finding(step.name, step.algorithm, region)
    findings += _metric_findings(step, step.metric.name, "metric")
    findings += _spot_findings(step, step.name, checkpointed=True)
    return findings


def tune_findings(lab: Lab, step: TuneStep) -> list[Finding]:
    train = lab.step(step.train)
    if not isinstance(train, TrainStep):
        return []
    if scriptmode.is_script_mode(train.algorithm):
        findings = []  # a script's job publishes the objective through its MetricDefinitions
    elif train.algorithm in ALGORITHMS:
        findings = _metric_findings(train, step.objective.name, "objective", step_name=step.name)
    else:
        return []  # the train step's own finding says why
    for key, rng in step.ranges.items():
        if (
            isinstance(rng, ContinuousRange)
            and rng.scaling == "reverse-logarithmic"
            and not 0 <= rng.min < rng.max < 1
        ):
            findings.append(
                Finding(
                    step.name,
                    f"range '{key}' [{rng.min}, {rng.max}]: SageMaker's reverse-logarithmic "
                    "scaling needs 0 <= min < max < 1",
                )
            )
    findings += _spot_findings(train, step.name, checkpointed=False)
    return findings


def _metric_findings(
    train: TrainStep, metric: str, what: str, *, step_name: str | None = None
) -> list[Finding]:
    emitted = emitted_metrics(train.algorithm, train.hyperparameters)
    if metric in emitted:
        return []
    because = ""
    if train.algorithm == "xgboost" and "eval_metric" in train.hyperparameters:
        because = f" with eval_metric '{train.hyperparameters['eval_metric']}'"
    return [
        Finding(
            step_name or train.name,
            f"{what} '{metric}' is not emitted by {train.algorithm}{because} "
            f"(it emits: {', '.join(emitted)})",
        )
    ]


def _spot_findings(train: TrainStep, step_name: str, *, checkpointed: bool) -> list[Finding]:
    """Non-fatal: the spot wait is capped at an hour, or the job runs on demand, when it cannot
    resume from checkpoints (SageMaker refuses longer waits for those)."""
    if not train.spot:
        return []
    asked = train.max_wait or 2 * train.max_runtime
    wait = spot_wait(train, checkpointed=checkpointed)
    why = (
        f"{train.algorithm} does not checkpoint"
        if checkpointed
        else "tuning trials share one job definition, so they get no checkpoint prefix"
    )
    if wait is None:
        return [
            Finding(
                step_name,
                f"runs on demand, not spot: {why}, and SageMaker allows such a spot job at most "
                f"{MAX_WAIT_WITHOUT_CHECKPOINTS // 60} min of wait while max_runtime is "
                f"{train.max_runtime // 60} min",
                fatal=False,
            )
        ]
    if wait < asked:
        return [
            Finding(
                step_name,
                f"spot wait capped at {wait // 60} min (asked {asked // 60} min): {why}, and "
                "SageMaker refuses a longer MaxWaitTimeInSeconds for such jobs",
                fatal=False,
            )
        ]
    return []


def serving_findings(lab: Lab, step: DeployStep | BatchStep, region: str) -> list[Finding]:
    """A script-mode model's inference image for the region and each instance type."""
    if isinstance(step, DeployStep) and step.variants:
        served = [(v.model, v.instance_type or step.instance_type) for v in step.variants]
    else:
        served = [(step.model, step.instance_type)]
    return scriptmode.serving_findings(lab, step.name, served, region)
