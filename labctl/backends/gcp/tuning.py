"""Hyperparameter tuning on gcp: a Vertex AI HyperparameterTuningJob over the train step."""

from __future__ import annotations

import math
from typing import Any

from google.cloud import aiplatform_v1 as aip

from labctl.backends.base import Context
from labctl.backends.gcp.client import (
    JOB_DONE,
    WAIT_MARGIN,
)
from labctl.backends.gcp.messages import (
    _labels,
    _plain,
    _seconds,
    metric_tag,
    study_spec,
    vertex_name,
)
from labctl.catalog import (
    TrainStep,
    TuneStep,
)
from labctl.errors import BackendError, Unsupported
from labctl.ledger import naive_utc


class Tuning:
    def tune(self, *, step: TuneStep, ctx: Context) -> dict[str, Any]:
        """A HyperparameterTuningJob over the train step's CustomJob; the best trial's model."""
        train = ctx.lab.step(step.train)
        assert isinstance(train, TrainStep)
        if train.algorithm == "automl-image":
            raise Unsupported(f"step '{step.name}': AutoML tunes itself; tune a custom model")
        name = vertex_name(step.name, ctx.run.id)
        n_jobs = ctx.max_jobs or step.max_jobs
        parallel = min(step.max_parallel_jobs, n_jobs)
        output = f"gs://{ctx.output('bucket')}/models/{name}/"
        static = {k: v for k, v in train.hyperparameters.items() if k not in step.ranges}
        tag = metric_tag(step.objective.name)
        spec = self._job_spec(
            train,
            ctx,
            output=output,
            hps=static,
            env={"LABCTL_HPT_METRIC": step.objective.name, "LABCTL_HPT_TAG": tag},
        )
        job = aip.HyperparameterTuningJob(
            display_name=name,
            study_spec=study_spec(step),
            max_trial_count=n_jobs,
            parallel_trial_count=parallel,
            max_failed_trial_count=max(1, n_jobs // 4),
            trial_job_spec=spec,
            labels=_labels(ctx),
        )
        res = self._add(
            ctx,
            "tuning-job",
            name,
            instance_type=train.instance_type,
            instance_count=train.instance_count,
            spot=train.spot,
            attrs={
                "step": step.name,
                "train": train.name,
                "strategy": step.strategy,
                "max_jobs": n_jobs,
                "max_parallel_jobs": parallel,
            },
        )
        with ctx.creating(res):
            created = self._api(
                "job",
                "create_hyperparameter_tuning_job",
                step=step.name,
                request=aip.CreateHyperparameterTuningJobRequest(
                    parent=self.parent, hyperparameter_tuning_job=job
                ),
            )
        ctx.ledger.update_resource(res.id, status="JOB_STATE_QUEUED", provider_id=created.name)
        per_trial = train.max_runtime + (train.max_wait or 0)
        timeout = math.ceil(n_jobs / parallel) * per_trial + WAIT_MARGIN
        with ctx.reporter.task(
            f"tune {name}: {step.strategy}, {n_jobs} trials, {parallel} at a time", total=n_jobs
        ) as t:
            final = self._wait(
                f"tuning job {name}",
                lambda: self._api(
                    "job", "get_hyperparameter_tuning_job", step=step.name, name=created.name
                ),
                done=JOB_DONE,
                timeout=timeout,
                task=t,
            )
        state = final.state.name
        ctx.ledger.close_resource(
            res.id,
            status=state,
            billable_seconds=_seconds(final.start_time, final.end_time),
            stopped_at=naive_utc(final.end_time),
        )
        best = _best_trial(final, tag, step.objective.goal)
        if state != "JOB_STATE_SUCCEEDED" or best is None:
            raise BackendError(
                f"step '{step.name}': tuning job {name} {state}: "
                f"{final.error.message or 'no trial reported ' + step.objective.name}",
                hint="the Vertex AI console's Training > Hyperparameter tuning jobs shows trials",
            )
        value = next(m.value for m in best.final_measurement.metrics if m.metric_id == tag)
        params = {p.parameter_id: _plain(p.value) for p in best.parameters}
        ctx.ledger.update_resource(res.id, attrs={"best_trial": best.id, "best_value": value})
        return {
            "tuning_job": name,
            "resource": created.name,
            "status": state,
            "best_trial": best.id,
            "best_hyperparameters": params,
            "metrics": {step.objective.name: value},
            "trials": len(final.trials),
            "model_artifact": f"{output}{best.id}/model/",
            "entry_point": train.entry_point,
        }


def _best_trial(job: Any, tag: str, goal: str) -> Any:
    scored = [
        t
        for t in job.trials
        if t.state.name == "SUCCEEDED"
        and any(m.metric_id == tag for m in t.final_measurement.metrics)
    ]
    if not scored:
        return None

    def value(t: Any) -> float:
        return next(m.value for m in t.final_measurement.metrics if m.metric_id == tag)

    return (max if goal == "maximize" else min)(scored, key=value)
