"""Hyperparameter tuning: the lab's tuning spec mapped onto an Optuna study of local jobs."""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from labctl.backends.base import Context
from labctl.backends.local.training import JobResult, Pruned, TrainingJobs, entry
from labctl.catalog import CategoricalRange, ContinuousRange, TrainStep, TuneStep
from labctl.errors import BackendError


class Tuning(TrainingJobs):
    """The `tune` step: trials are training jobs, `max_parallel_jobs` at a time."""

    def tune(self, *, step: TuneStep, ctx: Context) -> dict[str, Any]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        train = ctx.lab.step(step.train)
        assert isinstance(train, TrainStep)
        n_jobs = ctx.max_jobs or step.max_jobs
        parallel = min(step.max_parallel_jobs, n_jobs)
        direction = "maximize" if step.objective.goal == "maximize" else "minimize"
        study = optuna.create_study(
            direction=direction, sampler=_sampler(step), pruner=_pruner(step)
        )
        if step.warm_start:
            for params in _previous_best(ctx, step):
                study.enqueue_trial(params, skip_if_exists=True)
        tuning = ctx.ledger.add_resource(
            ctx.run,
            kind="tuning-job",
            name=f"{step.name}-{ctx.run.id}",
            attrs={"strategy": step.strategy, "max_jobs": n_jobs},
        )
        ctx.ledger.update_resource(tuning.id, status="running")
        jobs: dict[int, JobResult] = {}
        threads = max(1, (os.cpu_count() or 1) // parallel)

        def run_trial(trial: optuna.Trial) -> JobResult:
            hps = dict(train.hyperparameters)
            for key, rng in step.ranges.items():
                hps[key] = _suggest(trial, key, rng)

            def on_metric(metric: str, value: float, at: int | None) -> None:
                if metric == step.objective.name and at is not None:
                    trial.report(value, at)
                    if trial.should_prune():
                        raise Pruned

            name = f"{step.name}-{ctx.run.id}-{trial.number:03d}"
            return self._run_job(ctx, train, name, hps, on_metric=on_metric, threads=threads)

        pool = ThreadPoolExecutor(parallel)
        try:
            with ctx.reporter.task(
                f"tune {step.name}: {step.strategy}, {n_jobs} jobs, {parallel} at a time",
                total=n_jobs,
            ) as task:
                running: dict[Future[JobResult], optuna.Trial] = {}
                asked = 0
                while asked < n_jobs or running:
                    while asked < n_jobs and len(running) < parallel:
                        trial = study.ask()
                        running[pool.submit(run_trial, trial)] = trial
                        asked += 1
                    done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                    for fut in done:
                        trial = running.pop(fut)
                        try:
                            job = fut.result()
                        except BackendError as exc:
                            study.tell(trial, state=optuna.trial.TrialState.FAIL)
                            ctx.reporter.warn(f"trial {trial.number} failed: {exc.message}")
                        else:
                            jobs[trial.number] = job
                            if job.pruned:
                                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                            else:
                                study.tell(trial, job.metrics[step.objective.name])
                        task.advance()
        except BaseException:
            self._stopping = True
            pool.shutdown(wait=False, cancel_futures=True)
            self._kill_live()
            ctx.ledger.close_resource(tuning.id, status="Stopped")
            raise
        pool.shutdown()
        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not completed:
            ctx.ledger.close_resource(tuning.id, status="Failed")
            raise BackendError(
                f"step '{step.name}': no tuning job completed",
                hint="see the job logs under the lab's workspace jobs/ folder",
            )
        best = study.best_trial
        ctx.ledger.close_resource(
            tuning.id,
            status="Completed",
            attrs={"best_trial": best.number, "best_value": best.value},
        )
        pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
        return {
            "best_job": jobs[best.number].name,
            "best_hyperparameters": best.params,
            "model_dir": str(jobs[best.number].model_dir),
            "entry_point": entry(train).module,  # type: ignore[union-attr]
            "metrics": {step.objective.name: best.value},
            "trials": len(study.trials),
            "pruned": pruned,
        }


def _sampler(step: TuneStep) -> Any:
    import optuna

    if step.strategy == "grid":
        space = {k: r.values for k, r in step.ranges.items() if isinstance(r, CategoricalRange)}
        return optuna.samplers.GridSampler(space, seed=0)
    if step.strategy == "random":
        return optuna.samplers.RandomSampler(seed=0)
    return optuna.samplers.TPESampler(seed=0, n_startup_trials=min(5, step.max_jobs))


def _pruner(step: TuneStep) -> Any:
    """Hyperband prunes by design; `early_stopping` elsewhere is SageMaker's median rule."""
    import optuna

    if step.strategy == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=10, reduction_factor=3)
    if step.early_stopping:
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10)
    return optuna.pruners.NopPruner()


def _suggest(trial: Any, key: str, rng: Any) -> Any:
    if isinstance(rng, ContinuousRange):
        return trial.suggest_float(key, rng.min, rng.max, log=rng.scaling == "logarithmic")
    if isinstance(rng, CategoricalRange):
        return trial.suggest_categorical(key, rng.values)
    return trial.suggest_int(key, rng.min, rng.max, log=rng.scaling == "logarithmic")


def _previous_best(ctx: Context, step: TuneStep) -> list[dict[str, Any]]:
    """Warm start: the best hyperparameters of this lab's earlier tuning runs."""
    from sqlalchemy import select

    from labctl.ledger import Run

    with ctx.ledger.session() as s:
        runs = s.scalars(select(Run).where(Run.lab == ctx.lab_name, Run.id != ctx.run.id)).all()
        found = [
            r.outputs.get("steps", {}).get(step.name, {}).get("best_hyperparameters") for r in runs
        ]
    return [p for p in found if p and set(p) == set(step.ranges)]
