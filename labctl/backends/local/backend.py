"""The embedded `local` target: the lab's steps on this machine, for $0.

Training runs the lab's entry-point script in a subprocess under the SageMaker training contract
(`labctl.entrypoints.contract`); tuning maps the lab's tuning spec onto Optuna; deploy starts
`labctl.serving` (the SageMaker inference contract) as a background process. Every process is
in the ledger before it starts and carries a token in its command line (`-X labctl_token=...`),
so `labctl down` finds it even when `labctl up` was killed before it could record the pid.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from labctl import channels, cost, entrypoints
from labctl.backends.base import Backend, Context, Finding
from labctl.catalog import (
    BatchStep,
    CategoricalRange,
    ContinuousRange,
    DataStep,
    DeployStep,
    Lab,
    MonitorStep,
    PipelineStep,
    ServiceStep,
    TrainStep,
    TuneStep,
)
from labctl.entrypoints import contract
from labctl.errors import BackendError
from labctl.ledger import Ledger, Resource

# cloud service -> the module of its local analogue (a `SERVICES` dict: service -> function)
ANALOGUES: dict[str, str] = {
    "bigquery": "labctl.analogues.bigquery",
    "bigquery-ml": "labctl.analogues.bigquery",
    "delta-live-tables": "labctl.analogues.databricks",
    "feature-store": "labctl.analogues.databricks",
    "mlflow-model-registry": "labctl.analogues.databricks",
    "mlflow-tracking": "labctl.analogues.databricks",
}
READY_TIMEOUT = 120.0
SPARK_EXTRA = "pip install 'labctl[spark]' (pyspark and MLflow; Java 17 or later)"


@dataclass
class JobResult:
    name: str
    model_dir: Path
    metrics: dict[str, float]
    seconds: float
    pruned: bool = False
    tracking: dict[str, Any] = field(default_factory=dict)  # e.g. the job's MLflow run


class _Pruned(Exception):
    pass


class LocalBackend(Backend):
    name = "local"
    offline_plugins: ClassVar[bool] = True

    def __init__(self) -> None:
        self._live: set[subprocess.Popen[str]] = set()
        self._live_lock = threading.Lock()
        self._stopping = False  # set on interrupt: no new job may start

    # --- what this target can do ------------------------------------------------------------

    def check(self, lab: Lab) -> list[Finding]:
        from labctl import datagen  # numpy: only for the commands that run steps

        findings = super().check(lab)
        for step in lab.steps:
            match step:
                case DataStep() if not datagen.available(step.generator):
                    findings.append(
                        Finding(
                            step.name, f"no local generator '{step.generator}' for this dataset yet"
                        )
                    )
                case TrainStep() if step.algorithm == "spark-mllib" and not _has("pyspark"):
                    findings.append(Finding(step.name, f"needs Apache Spark: {SPARK_EXTRA}"))
                case ServiceStep() if step.service.startswith("mlflow") and not _has("mlflow"):
                    findings.append(
                        Finding(step.name, f"needs MLflow: {SPARK_EXTRA}", fatal=not step.optional)
                    )
                case TrainStep() if _entry(step) is None:
                    what = f"script '{step.entry_point}'" if step.entry_point else step.algorithm
                    findings.append(Finding(step.name, f"no local stand-in for {what}"))
                case ServiceStep() if _analogue(step.service) is None:
                    findings.append(
                        Finding(
                            step.name,
                            f"'{step.service}' is a cloud service; the local target skips it",
                            fatal=not step.optional,
                        )
                    )
                case PipelineStep():
                    findings.append(
                        Finding(
                            step.name,
                            "runs its steps once; scheduled pipelines are cloud-only",
                            fatal=False,
                        )
                    )
                case DeployStep() if len(step.variants) > 1:
                    findings.append(
                        Finding(
                            step.name,
                            "serves the heaviest variant only; traffic splitting is cloud-only",
                            fatal=False,
                        )
                    )
        return findings

    def module_inputs(self, ctx_workspace: Path, lab: Lab | None = None) -> dict[str, Any]:
        return {"bucket_root": str(ctx_workspace / "bucket")}

    # --- steps ------------------------------------------------------------------------------

    def data(self, *, step: DataStep, ctx: Context) -> dict[str, Any]:
        from labctl import datagen

        rows = ctx.rows or step.rows
        out = _bucket(ctx) / "data" / step.name
        with ctx.reporter.task(f"data {step.name}: {rows:,} rows of {step.generator}"):
            schema = datagen.generate(
                step.generator,
                rows=rows,
                seed=step.seed,
                out_dir=out,
                validation_fraction=step.validation_fraction,
            )
        return {"dir": str(out), "rows": rows, "schema": schema}

    def train(self, *, step: TrainStep, ctx: Context) -> dict[str, Any]:
        name = f"{step.name}-{ctx.run.id}"
        entry = _entry(step)
        assert entry is not None  # check() refused the lab otherwise
        with ctx.reporter.task(f"train {name} ({entry.stands_in})"):
            job = self._run_job(ctx, step, name, dict(step.hyperparameters))
        return {
            "job": job.name,
            "model_dir": str(job.model_dir),
            "metrics": job.metrics,
            "entry_point": entry.module,
            "seconds": round(job.seconds, 2),
            **({"tracking": job.tracking} if job.tracking else {}),
        }

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
                        raise _Pruned

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
            "entry_point": _entry(train).module,  # type: ignore[union-attr]
            "metrics": {step.objective.name: best.value},
            "trials": len(study.trials),
            "pruned": pruned,
        }

    def deploy(self, *, step: DeployStep, ctx: Context) -> dict[str, Any]:
        variant = max(step.variants, key=lambda v: v.weight).model if step.variants else step.model
        model = ctx.results[variant]
        name = f"{step.name}-{ctx.run.id}"
        folder = ctx.workspace / "endpoints" / name
        folder.mkdir(parents=True, exist_ok=True)
        ready = folder / "ready.json"
        ready.unlink(missing_ok=True)
        token = f"endpoint-{name}"
        price = self._price(ctx, "endpoint", step.instance_type)
        res = ctx.ledger.add_resource(
            ctx.run,
            kind="endpoint",
            name=name,
            instance_type=step.instance_type,
            instance_count=step.instance_count,
            **price,
            attrs={
                "token": token,
                "ready_file": str(ready),
                "model": variant,
                "content_type": entrypoints.EntryPoint(model["entry_point"], "").content_type(),
            },
        )
        cmd = [
            sys.executable,
            "-X",
            f"labctl_token={token}",
            "-m",
            "labctl.serving",
            "--entry-point",
            model["entry_point"],
            "--model-dir",
            model["model_dir"],
            "--ready-file",
            str(ready),
            "--token",
            token,
        ]
        if step.data_capture_percent:
            cmd += [
                "--capture-dir",
                str(_bucket(ctx) / "datacapture" / name),
                "--capture-percent",
                str(step.data_capture_percent),
            ]
        with ctx.reporter.task(f"deploy {name}: starting the model server"):
            log = open(folder / "server.log", "ab")  # noqa: SIM115 - handed to the child
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
            log.close()
            ctx.ledger.update_resource(res.id, provider_id=token, attrs={"pid": proc.pid})
            try:
                info = _wait_ready(proc, ready, folder / "server.log")
            except BaseException:
                _terminate(proc.pid, token)
                ctx.ledger.close_resource(res.id, status="Failed")
                raise
        ctx.ledger.update_resource(res.id, status="InService", attrs=info)
        return {"endpoint": name, "url": info["url"], "model": variant}

    def batch(self, *, step: BatchStep, ctx: Context) -> dict[str, Any]:
        from labctl import serving

        model = ctx.results[step.model]
        data = ctx.results[step.data]
        name = f"{step.name}-{ctx.run.id}"
        entry = entrypoints.EntryPoint(model["entry_point"], "")
        inputs = _bucket(ctx) / "batch-input" / name
        make_input = getattr(entry.load(), "batch_input", _strip_labels)
        make_input(Path(data["dir"]) / "validation", inputs, data["schema"])
        out = _bucket(ctx) / "output" / name
        res = ctx.ledger.add_resource(
            ctx.run,
            kind="batch-job",
            name=name,
            instance_type=step.instance_type,
            instance_count=step.instance_count,
            **self._price(ctx, "batch-job", step.instance_type),
        )
        started = time.monotonic()
        try:
            with ctx.reporter.task(f"batch {name}"):
                batch_type = entry.batch_content_type()
                counts = serving.batch_transform(
                    model["entry_point"],
                    Path(model["model_dir"]),
                    inputs,
                    out,
                    content_type=batch_type,
                    accept=batch_type,
                )
        except BaseException:
            ctx.ledger.close_resource(res.id, status="Failed")
            raise
        ctx.ledger.close_resource(
            res.id, status="Completed", billable_seconds=time.monotonic() - started
        )
        return {"job": name, "output": str(out), **counts}

    def monitor(self, *, step: MonitorStep, ctx: Context) -> dict[str, Any]:
        """Model Monitor's baseline job: statistics and constraints of the training data."""
        deploy = ctx.lab.step(step.endpoint)
        assert isinstance(deploy, DeployStep)
        train = ctx.lab.train_of(deploy.model)
        assert isinstance(train, TrainStep)
        data = ctx.results[train.data]
        out = _bucket(ctx) / "monitoring" / step.name
        baseline = channels.baseline(Path(data["dir"]) / "train", data["schema"], out)
        capture = _bucket(ctx) / "datacapture" / ctx.results[step.endpoint]["endpoint"]
        return {
            "baseline": str(out),
            "features": baseline,
            "capture": str(capture),
            "checks": step.checks,
            "schedule": f"{step.schedule} (cloud targets)",
        }

    def pipeline(self, *, step: PipelineStep, ctx: Context) -> dict[str, Any]:
        return {"skipped": "pipelines are scheduled on cloud targets", "steps": step.steps}

    def service(self, *, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        run = _analogue(step.service)
        if run is None:
            return {"skipped": f"'{step.service}' is a cloud service"}
        with ctx.reporter.task(f"service {step.name}: {step.service}, local analogue"):
            return run(step=step, ctx=ctx)

    # --- teardown, status, invoke -------------------------------------------------------------

    def teardown(self, resource: Resource, ledger: Ledger) -> None:
        token = (resource.attrs or {}).get("token") or resource.provider_id
        pid = (resource.attrs or {}).get("pid")
        if token:
            _terminate(pid, token)

    def live_status(self, resource: Resource) -> str:
        attrs = resource.attrs or {}
        if resource.kind in ("endpoint", "training-job") and attrs.get("token"):
            alive = bool(_find(attrs["token"]))
            if resource.kind == "endpoint":
                return "InService" if alive else "Stopped (process gone)"
            return "InProgress" if alive else resource.status
        return resource.status

    def invoke(self, resource: Resource, body: bytes, content_type: str, accept: str) -> bytes:
        url = (resource.attrs or {}).get("url")
        if not url:
            raise BackendError(f"endpoint {resource.name} has no URL (status {resource.status})")
        request = urllib.request.Request(
            f"{url}/invocations",
            data=body,
            method="POST",
            headers={"Content-Type": content_type, "Accept": accept},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise BackendError(
                f"endpoint {resource.name} answered {exc.code}: "
                f"{exc.read().decode(errors='replace').strip()}"
            ) from None
        except urllib.error.URLError as exc:
            raise BackendError(
                f"endpoint {resource.name} at {url} is not reachable: {exc.reason}",
                hint="`labctl status` shows it",
            ) from None

    # --- training jobs ------------------------------------------------------------------------

    def _price(self, ctx: Context, kind: str, instance_type: str) -> dict[str, Any]:
        """The cloud-equivalent price of what runs here (the local target itself costs $0)."""
        return cost.launch_price(ctx.prices, ctx.lab.cloud, kind, instance_type, equivalent=True)

    def _run_job(
        self,
        ctx: Context,
        step: TrainStep,
        name: str,
        hps: dict[str, Any],
        *,
        on_metric: Any = None,
        threads: int | None = None,
    ) -> JobResult:
        """One training job: ledger row, job folder, subprocess, metrics, model to the bucket."""
        entry = _entry(step)
        assert entry is not None
        data = ctx.results[step.data]
        token = f"job-{name}"
        res = ctx.ledger.add_resource(
            ctx.run,
            kind="training-job",
            name=name,
            provider_id=token,
            instance_type=step.instance_type,
            instance_count=step.instance_count,
            spot=step.spot,
            attrs={"token": token, "hyperparameters": hps},
            **self._price(ctx, "training-job", step.instance_type),
        )
        job_dir = ctx.workspace / "jobs" / name
        if job_dir.exists():
            shutil.rmtree(job_dir)
        channels = {c: Path(data["dir"]) / c for c in ("train", "validation")}
        env = {
            **os.environ,
            **contract.prepare_job_dir(
                job_dir,
                channels,
                hps,
                instance_type=step.instance_type,
                instance_count=step.instance_count,
            ),
        }
        if threads:
            env["SM_NUM_CPUS"] = str(threads)
        env.update(tracking_env(ctx))
        cmd = [sys.executable, "-X", f"labctl_token={token}", "-m", entry.module]
        started = time.monotonic()
        status, pruned = "Failed", False
        with self._live_lock:
            if self._stopping:
                ctx.ledger.close_resource(res.id, status="Stopped")
                raise BackendError(f"training job {name} not started: labctl is stopping")
            proc = subprocess.Popen(
                cmd,
                cwd=job_dir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
            self._live.add(proc)
        try:
            ctx.ledger.update_resource(res.id, status="InProgress", attrs={"pid": proc.pid})
            with open(job_dir / "output" / "log.txt", "w") as log:
                assert proc.stdout is not None
                for line in proc.stdout:
                    log.write(line)
                    parsed = contract.parse_metric_line(line.strip())
                    if parsed and on_metric:
                        try:
                            on_metric(*parsed)
                        except _Pruned:
                            pruned = True
                            _terminate(proc.pid, token)
                            break
            code = proc.wait()
            if pruned:
                status = "Stopped"
            elif code != 0:
                failure = job_dir / "output" / "failure"
                reason = failure.read_text().strip() if failure.exists() else _tail(job_dir)
                raise BackendError(
                    f"training job {name} failed (exit {code}): {reason}",
                    hint=f"log: {job_dir / 'output' / 'log.txt'}",
                )
            else:
                status = "Completed"
        finally:
            if proc.poll() is None:
                _terminate(proc.pid, token)
            with self._live_lock:
                self._live.discard(proc)
            seconds = time.monotonic() - started
            ctx.ledger.close_resource(res.id, status=status, billable_seconds=seconds)
        metrics_file = job_dir / "output" / "data" / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        tracking_file = job_dir / "output" / "data" / "tracking.json"
        tracking = json.loads(tracking_file.read_text()) if tracking_file.exists() else {}
        model_dir = _bucket(ctx) / "models" / name
        if not pruned:
            shutil.copytree(job_dir / "model", model_dir, dirs_exist_ok=True)
            ctx.ledger.update_resource(res.id, attrs={"metrics": metrics, **tracking})
        return JobResult(name, model_dir, metrics, seconds, pruned, tracking)

    def _kill_live(self) -> None:
        with self._live_lock:
            procs = list(self._live)
        for proc in procs:
            if proc.poll() is None:
                _terminate(proc.pid, None)


# --- helpers ------------------------------------------------------------------------------------


def _bucket(ctx: Context) -> Path:
    return Path(ctx.infra.get("bucket") or ctx.workspace / "bucket")


def _entry(step: TrainStep) -> entrypoints.EntryPoint | None:
    return entrypoints.resolve(step.algorithm, step.entry_point)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _analogue(service: str) -> Any:
    """The function that runs `service`'s local analogue, or None when there is none."""
    module = ANALOGUES.get(service)
    if module is None or importlib.util.find_spec(module) is None:
        return None
    return importlib.import_module(module).SERVICES.get(service)


def tracking_env(ctx: Context) -> dict[str, str]:
    """MLflow tracking and registry for the lab's jobs: a SQLite store in its workspace.

    A job that tracks a run writes `output/data/tracking.json` (e.g. `{"mlflow_run_id": ...}`),
    which lands in the job's ledger row and step result, so `labctl status` can show it.
    """
    return {
        "MLFLOW_TRACKING_URI": f"sqlite:///{ctx.workspace / 'mlflow.db'}",
        "MLFLOW_REGISTRY_URI": f"sqlite:///{ctx.workspace / 'mlflow.db'}",
        "MLFLOW_EXPERIMENT_NAME": ctx.lab_name,
        "LABCTL_RUN_ID": str(ctx.run.id),
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


def _wait_ready(proc: subprocess.Popen[bytes], ready: Path, log: Path) -> dict[str, Any]:
    """Wait for the server's ready file, then check GET /ping answers 200."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BackendError(
                f"the model server exited with {proc.returncode} before it was "
                f"ready:\n{_tail_file(log)}",
                hint=f"log: {log}",
            )
        if ready.exists():
            info = json.loads(ready.read_text())
            with urllib.request.urlopen(f"{info['url']}/ping", timeout=5) as response:
                if response.status == 200:
                    return info
        time.sleep(0.05)
    raise BackendError(
        f"the model server was not ready after {READY_TIMEOUT:.0f} s", hint=f"log: {log}"
    )


def _find(token: str) -> list[int]:
    """Pids of this user's processes whose command line carries `token`."""
    needle = f"labctl_token={token}".encode()
    pids = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if needle in cmdline.split(b"\0"):
                pids.append(int(entry.name))
    return pids


def _terminate(pid: int | None, token: str | None, grace: float = 5.0) -> None:
    """SIGTERM then SIGKILL the process (group) with this token; already gone is fine.

    Design choice: a recorded pid is trusted only if its command line still carries the token,
    so a recycled pid is never killed.
    """
    pids = set(_find(token)) if token else set()
    if pid and (token is None or pid in pids or not Path("/proc").is_dir()):
        pids.add(pid)
    for p in pids:
        _signal(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = {p for p in pids if _alive(p)}
        time.sleep(0.02)
    for p in pids:
        _signal(p, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # our children lead their own session/group
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0); /proc tells; a process gone meanwhile is not alive
        return ") Z" not in Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return not Path("/proc").is_dir()
    except OSError:
        return True


def _tail(job_dir: Path) -> str:
    return _tail_file(job_dir / "output" / "log.txt")


def _tail_file(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _strip_labels(src: Path, dst: Path, schema: dict[str, Any]) -> None:
    """The default batch input: the validation channel without its labels."""
    channels.strip_labels(src, dst, text=schema.get("content_type") == "text/plain")
