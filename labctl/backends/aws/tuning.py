"""Automatic model tuning over a train step's job; warm start from the engineer's earlier tunes."""

from __future__ import annotations

import json
import math
from typing import Any

from labctl.backends.aws import scriptmode, secure
from labctl.backends.aws.api import WAIT_MARGIN, AwsApi, sm_name, tags
from labctl.backends.aws.errors import is_gone
from labctl.backends.base import Context, hp_string, hp_strings
from labctl.catalog import CategoricalRange, ContinuousRange, TrainStep, TuneStep
from labctl.errors import BackendError
from labctl.ledger import Resource, naive_utc

STRATEGIES = {"bayesian": "Bayesian", "random": "Random", "grid": "Grid", "hyperband": "Hyperband"}
SCALING = {
    "auto": "Auto",
    "linear": "Linear",
    "logarithmic": "Logarithmic",
    "reverse-logarithmic": "ReverseLogarithmic",
}


class TuningMixin(AwsApi):
    def tune(self, *, step: TuneStep, ctx: Context) -> dict[str, Any]:
        """Automatic model tuning over the train step's job; the best job's model is the result."""
        train = ctx.lab.step(step.train)
        assert isinstance(train, TrainStep)
        name = sm_name(step.name, ctx.run.id, limit=32)
        n_jobs = ctx.max_jobs or step.max_jobs
        parallel = min(step.max_parallel_jobs, n_jobs)
        # No CheckpointConfig: the definition is shared, so every trial would read and write one
        # prefix; spot trials then follow the no-checkpoint limit (see algorithms.spot_wait).
        source = self._script_source(train, ctx, name)
        spec = self._job_spec(
            train,
            ctx,
            output=f"models/{name}/",
            checkpoints=None,
            source=source,
            metrics=(step.objective.name,),
        )
        if source:  # the SDK's framework tuners: static and categorical values JSON-encoded
            static = scriptmode.hyperparameters(
                train, source, self.region, leave_out=set(step.ranges)
            )
        else:
            static = {
                k: v for k, v in hp_strings(train.hyperparameters).items() if k not in step.ranges
            }
        limits: dict[str, int] = {"MaxParallelTrainingJobs": parallel}
        if step.strategy != "grid":  # grid runs every combination of its categorical values
            limits["MaxNumberOfTrainingJobs"] = n_jobs
        tuning_config: dict[str, Any] = {
            "Strategy": STRATEGIES[step.strategy],
            "HyperParameterTuningJobObjective": {
                "Type": "Maximize" if step.objective.goal == "maximize" else "Minimize",
                "MetricName": step.objective.name,
            },
            "ResourceLimits": limits,
            "ParameterRanges": parameter_ranges(step, json_values=source is not None),
            # Hyperband stops jobs itself; SageMaker requires per-job early stopping Off with it.
            "TrainingJobEarlyStoppingType": (
                "Auto" if step.early_stopping and step.strategy != "hyperband" else "Off"
            ),
        }
        if step.strategy == "hyperband":
            hyperband: dict[str, int] = {"MinResource": 1}
            rounds = train.hyperparameters.get("epochs") or train.hyperparameters.get("num_round")
            if isinstance(rounds, int) and rounds > 1:
                hyperband["MaxResource"] = rounds
            tuning_config["StrategyConfig"] = {"HyperbandStrategyConfig": hyperband}
        kwargs: dict[str, Any] = {}
        parents = self._warm_start_parents(ctx, step) if step.warm_start else []
        if parents:
            kwargs["WarmStartConfig"] = {
                "ParentHyperParameterTuningJobs": [
                    {"HyperParameterTuningJobName": p} for p in parents
                ],
                "WarmStartType": "IdenticalDataAndAlgorithm",
            }
        res = self._add(
            ctx,
            "tuning-job",
            name,
            instance_type=train.instance_type,
            instance_count=train.instance_count,
            spot=spec["EnableManagedSpotTraining"],
            attrs={
                "step": step.name,
                "train": train.name,
                "algorithm": train.algorithm,
                "strategy": step.strategy,
                "max_jobs": n_jobs,
                "max_parallel_jobs": parallel,
                "warm_start_from": parents,
                **(source or {}),
            },
        )
        self._create(
            ctx,
            res,
            "create_hyper_parameter_tuning_job",
            status="InProgress",
            arn_key="HyperParameterTuningJobArn",
            step=step.name,
            HyperParameterTuningJobName=name,
            HyperParameterTuningJobConfig=tuning_config,
            TrainingJobDefinition={"StaticHyperParameters": static, **spec},
            Tags=tags(ctx),
            **kwargs,
        )
        per_job = spec["StoppingCondition"].get(
            "MaxWaitTimeInSeconds", spec["StoppingCondition"]["MaxRuntimeInSeconds"]
        )
        timeout = math.ceil(n_jobs / parallel) * per_job + WAIT_MARGIN
        with ctx.reporter.task(
            f"tune {name}: {step.strategy}, {n_jobs} jobs, {parallel} at a time", total=n_jobs
        ) as task:
            desc = self._wait(
                f"tuning job {name}",
                lambda: self._api(
                    "sagemaker",
                    "describe_hyper_parameter_tuning_job",
                    step=step.name,
                    HyperParameterTuningJobName=name,
                ),
                "HyperParameterTuningJobStatus",
                done=("Completed", "Failed", "Stopped"),
                timeout=timeout,
                task=task,
            )
        status = desc["HyperParameterTuningJobStatus"]
        billable = self._tuning_billable(name, step.name)
        counters = desc.get("TrainingJobStatusCounters", {})
        best = desc.get("BestTrainingJob")
        ctx.ledger.update_resource(res.id, attrs={"training_jobs": counters})
        ctx.ledger.close_resource(
            res.id,
            status=status,
            billable_seconds=billable,
            stopped_at=naive_utc(desc.get("HyperParameterTuningEndTime")),
        )
        if status != "Completed" or not best:
            raise BackendError(
                f"step '{step.name}': tuning job {name} {status}: "
                f"{desc.get('FailureReason') or 'no training job completed'}",
                hint="the SageMaker console's Hyperparameter tuning jobs page shows each job",
            )
        metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        metric_name = metric.get("MetricName", step.objective.name)
        result = {
            "tuning_job": name,
            "status": status,
            "best_job": best["TrainingJobName"],
            "best_hyperparameters": best.get("TunedHyperParameters", {}),
            "metric": {"name": metric_name, "value": metric.get("Value")},
            "metrics": {metric_name: metric.get("Value")},
            # SageMaker's layout for a tuning job's training jobs: <output>/<job>/output/
            "model_artifact": f"{spec['OutputDataConfig']['S3OutputPath']}"
            f"{best['TrainingJobName']}/output/model.tar.gz",
            "algorithm": train.algorithm,
            "training_jobs": counters,
            "billable_seconds": billable,
            **(source or {}),
        }
        ctx.ledger.update_resource(res.id, attrs={"best": result["best_job"], **result["metric"]})
        return result | secure.sign(self, ctx, step.name, result["model_artifact"])

    def _tuning_billable(self, name: str, step_name: str) -> float | None:
        """The billable seconds of all of a tuning job's training jobs (None if not known)."""
        total = 0.0
        kwargs: dict[str, Any] = {"HyperParameterTuningJobName": name, "MaxResults": 100}
        while True:
            page = self._api(
                "sagemaker",
                "list_training_jobs_for_hyper_parameter_tuning_job",
                step=step_name,
                tolerate=self._unimplemented,
                **kwargs,
            )
            if page is None:
                return None
            for job in page.get("TrainingJobSummaries", []):
                desc = self._api(
                    "sagemaker",
                    "describe_training_job",
                    step=step_name,
                    tolerate=is_gone,
                    TrainingJobName=job["TrainingJobName"],
                )
                if desc and desc.get("BillableTimeInSeconds") is not None:
                    total += desc["BillableTimeInSeconds"]
            if not page.get("NextToken"):
                return total
            kwargs["NextToken"] = page["NextToken"]

    def _warm_start_parents(self, ctx: Context, step: TuneStep) -> list[str]:
        """This engineer's completed tuning jobs of the same lab step in this region (<= 5)."""
        from sqlalchemy import select

        with ctx.ledger.session() as s:
            found = s.scalars(
                select(Resource)
                .where(
                    Resource.kind == "tuning-job",
                    Resource.target == self.name,
                    Resource.lab == ctx.lab_name,
                    Resource.engineer == ctx.run.engineer,
                    Resource.region == self.region,
                    Resource.run_id != ctx.run.id,
                    Resource.status == "Completed",
                )
                .order_by(Resource.started_at.desc())
            ).all()
        return [r.name for r in found if (r.attrs or {}).get("step") == step.name][:5]


def parameter_ranges(
    step: TuneStep, *, json_values: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """The TuneStep's ranges as SageMaker ParameterRanges (values as strings; categorical values
    JSON-encoded with `json_values`, as the SDK does for framework estimators)."""
    encode = json.dumps if json_values else hp_string
    out: dict[str, list[dict[str, Any]]] = {
        "ContinuousParameterRanges": [],
        "IntegerParameterRanges": [],
        "CategoricalParameterRanges": [],
    }
    for key, rng in step.ranges.items():
        if isinstance(rng, CategoricalRange):
            out["CategoricalParameterRanges"].append(
                {"Name": key, "Values": [encode(v) for v in rng.values]}
            )
        else:
            kind = "Continuous" if isinstance(rng, ContinuousRange) else "Integer"
            out[f"{kind}ParameterRanges"].append(
                {
                    "Name": key,
                    "MinValue": hp_string(rng.min),
                    "MaxValue": hp_string(rng.max),
                    "ScalingType": SCALING[rng.scaling],
                }
            )
    return {k: v for k, v in out.items() if v}
