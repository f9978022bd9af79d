"""Training jobs: the lab's entry point in a subprocess under the SageMaker training contract.

Each job gets a ledger row before it starts, a job folder (`contract.prepare_job_dir`), a
subprocess carrying its token, and its model copied to the bucket's `models/` when it completes.

A PyTorch / Hugging Face step with `instance_count: N > 1` runs as N processes, torchrun-style
(`run_ranks`): one per simulated instance, sharing the job folder and its data channels, each
with SageMaker's distributed environment and torch.distributed's (gloo on CPU). Only rank 0
writes model/ and the metrics; the log carries every rank's lines, prefixed `[rank<r>]`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl import entrypoints
from labctl.backends.base import Context
from labctl.backends.local.base import LocalBase, bucket
from labctl.backends.local.processes import tail_file, terminate
from labctl.backends.local.services import tracking_env
from labctl.catalog import TrainStep
from labctl.entrypoints import SCRIPT_MODE, contract
from labctl.errors import BackendError


@dataclass
class JobResult:
    name: str
    model_dir: Path
    metrics: dict[str, float]
    seconds: float
    pruned: bool = False
    tracking: dict[str, Any] = field(default_factory=dict)  # e.g. the job's MLflow run


RANK0 = "[rank0] "  # the prefix of rank 0's lines in a multi-process job's log


class Pruned(Exception):
    """Raised by an `on_metric` callback to stop a job early (a pruned tuning trial)."""


def entry(step: TrainStep) -> entrypoints.EntryPoint | None:
    """The local entry point that trains `step`, or None when there is no stand-in."""
    return entrypoints.resolve(step.algorithm, step.entry_point)


def processes(step: TrainStep) -> int:
    """How many processes run `step` locally: one per instance for a framework script (which
    can train data-parallel), one for a built-in algorithm or Spark (which parallelise within)."""
    return step.instance_count if step.algorithm in SCRIPT_MODE else 1


def command(module: str, token: str, count: int = 1) -> list[str]:
    """The job's command line: `python -m module`, or `run_ranks` starting `count` of them."""
    if count == 1:
        return [sys.executable, "-X", f"labctl_token={token}", "-m", module]
    launch = (
        f"import {__name__} as t; raise SystemExit(t.run_ranks({count}, {module!r}, {token!r}))"
    )
    return [sys.executable, "-X", f"labctl_token={token}", "-c", launch]


def run_ranks(count: int, module: str, token: str) -> int:
    """Run `python -m module` as `count` ranks of one torch.distributed job; return the exit code.

    torchrun-style on one machine: every rank gets MASTER_ADDR=127.0.0.1, a free MASTER_PORT,
    RANK, WORLD_SIZE, LOCAL_RANK=0 and LOCAL_WORLD_SIZE=1 (each rank stands for one instance),
    SM_CURRENT_HOST=algo-<rank+1>, and an even share of the CPUs (SM_NUM_CPUS,
    OMP_NUM_THREADS). Lines are echoed as `[rank<r>] ...`; the first rank to fail stops the others
    (they would wait forever in a collective) and its exit code is returned.
    """
    with socket.socket() as sock:  # a free port; the kernel does not hand it out again at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cpus = max(1, int(os.environ.get("SM_NUM_CPUS") or os.cpu_count() or 1) // count)
    lock = threading.Lock()
    procs: list[subprocess.Popen[str]] = []
    for rank in range(count):
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "WORLD_SIZE": str(count),
            "LOCAL_RANK": "0",
            "LOCAL_WORLD_SIZE": "1",
            "SM_CURRENT_HOST": f"algo-{rank + 1}",
            "SM_NUM_CPUS": str(cpus),
            "OMP_NUM_THREADS": str(cpus),
        }
        procs.append(
            subprocess.Popen(
                command(module, token),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
            )
        )

    def echo(rank: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with lock:
                sys.stdout.write(f"[rank{rank}] {line}")
                sys.stdout.flush()

    readers = [threading.Thread(target=echo, args=(r, p), daemon=True) for r, p in enumerate(procs)]
    for reader in readers:
        reader.start()
    while True:
        codes = [p.poll() for p in procs]  # every one polled: poll() is what sets returncode
        code = next((c for c in codes if c), 0)
        if code or None not in codes:
            break
        time.sleep(0.05)
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    for reader in readers:
        reader.join(timeout=5)
    return code


class TrainingJobs(LocalBase):
    """The `train` step and the job runner the tuning step shares."""

    def __init__(self) -> None:
        self._live: set[subprocess.Popen[str]] = set()
        self._live_lock = threading.Lock()
        self._stopping = False  # set on interrupt: no new job may start

    def train(self, *, step: TrainStep, ctx: Context) -> dict[str, Any]:
        name = f"{step.name}-{ctx.run.id}"
        ep = entry(step)
        assert ep is not None  # check() refused the lab otherwise
        ranks = processes(step)
        how = f"{ep.stands_in}, {ranks} processes" if ranks > 1 else ep.stands_in
        with ctx.reporter.task(f"train {name} ({how})"):
            job = self._run_job(ctx, step, name, dict(step.hyperparameters))
        return {
            "job": job.name,
            "model_dir": str(job.model_dir),
            "metrics": job.metrics,
            "entry_point": ep.module,
            "seconds": round(job.seconds, 2),
            **({"tracking": job.tracking} if job.tracking else {}),
        }

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
        ep = entry(step)
        assert ep is not None
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
        for channel, source in entrypoints.model_channels(hps).items():
            channels[channel] = Path(ctx.result(step.name, source)["model_dir"])
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
        cmd = command(ep.module, token, processes(step))
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
                    parsed = contract.parse_metric_line(line.strip().removeprefix(RANK0))
                    if parsed and on_metric:
                        try:
                            on_metric(*parsed)
                        except Pruned:
                            pruned = True
                            terminate(proc.pid, token)
                            break
            code = proc.wait()
            if pruned:
                status = "Stopped"
            elif code != 0:
                failure = job_dir / "output" / "failure"
                reason = (
                    failure.read_text().strip()
                    if failure.exists()
                    else tail_file(job_dir / "output" / "log.txt")
                )
                raise BackendError(
                    f"training job {name} failed (exit {code}): {reason}",
                    hint=f"log: {job_dir / 'output' / 'log.txt'}",
                )
            else:
                status = "Completed"
        finally:
            if proc.poll() is None:
                terminate(proc.pid, token)
            with self._live_lock:
                self._live.discard(proc)
            seconds = time.monotonic() - started
            ctx.ledger.close_resource(res.id, status=status, billable_seconds=seconds)
        metrics_file = job_dir / "output" / "data" / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        tracking_file = job_dir / "output" / "data" / "tracking.json"
        tracking = json.loads(tracking_file.read_text()) if tracking_file.exists() else {}
        model_dir = bucket(ctx) / "models" / name
        if not pruned:
            shutil.copytree(job_dir / "model", model_dir, dirs_exist_ok=True)
            ctx.ledger.update_resource(res.id, attrs={"metrics": metrics, **tracking})
        return JobResult(name, model_dir, metrics, seconds, pruned, tracking)

    def _kill_live(self) -> None:
        """Stop every job this backend started that still runs (on interrupt)."""
        with self._live_lock:
            procs = list(self._live)
        for proc in procs:
            if proc.poll() is None:
                terminate(proc.pid, None)
