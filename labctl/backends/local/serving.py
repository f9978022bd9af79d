"""Endpoints and inference: the model server process (`labctl.serving`), batch transform and
the monitoring baseline over what the server captures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from labctl import channels, entrypoints
from labctl.backends.base import Context
from labctl.backends.local.base import LocalBase, bucket
from labctl.backends.local.processes import tail_file, terminate
from labctl.catalog import BatchStep, DeployStep, MonitorStep, TrainStep
from labctl.errors import BackendError
from labctl.ledger import Resource

READY_TIMEOUT = 120.0


class Endpoints(LocalBase):
    """The `deploy`, `batch` and `monitor` steps, and `labctl invoke`."""

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
                str(bucket(ctx) / "datacapture" / name),
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
                terminate(proc.pid, token)
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
        inputs = bucket(ctx) / "batch-input" / name
        make_input = getattr(entry.load(), "batch_input", _strip_labels)
        make_input(Path(data["dir"]) / "validation", inputs, data["schema"])
        out = bucket(ctx) / "output" / name
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
        out = bucket(ctx) / "monitoring" / step.name
        baseline = channels.baseline(Path(data["dir"]) / "train", data["schema"], out)
        capture = bucket(ctx) / "datacapture" / ctx.results[step.endpoint]["endpoint"]
        report = _drift(Path(data["dir"]), data["schema"], capture, out) if baseline else None
        return {
            "baseline": str(out),
            "features": baseline,
            "capture": str(capture),
            **({"drift": report, "outputs": {"drift": report["report"]}} if report else {}),
            "checks": step.checks,
            "schedule": f"{step.schedule} (cloud targets)",
        }

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


def _wait_ready(proc: subprocess.Popen[bytes], ready: Path, log: Path) -> dict[str, Any]:
    """Wait for the server's ready file, then check GET /ping answers 200."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BackendError(
                f"the model server exited with {proc.returncode} before it was "
                f"ready:\n{tail_file(log)}",
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


def _drift(data_dir: Path, schema: dict[str, Any], capture: Path, out: Path) -> dict[str, Any]:
    """The drift report (Vertex AI Model Monitoring's statistics) of the captured requests, or
    of the validation channel while nothing is captured, against the training features;
    written as drift.json next to the baseline. Returns its summary."""
    from labctl import drift

    names = list(schema.get("features") or [])
    base = drift.channel_frame(data_dir / "train", names)
    current, against = drift.captured_requests(capture, names), "captured requests"
    if current.empty:
        current = drift.channel_frame(data_dir / "validation", names)
        against = "validation channel (no requests captured yet)"
    report = {**drift.drift_report(base, current, thresholds=None), "current": against}
    (out / "drift.json").write_text(json.dumps(report, indent=2))
    return {
        "report": str(out / "drift.json"),
        "current": against,
        "drifted": report["drifted"],
        "alert": report["alert"],
    }


def _strip_labels(src: Path, dst: Path, schema: dict[str, Any]) -> None:
    """The default batch input: the validation channel without its labels."""
    channels.strip_labels(src, dst, text=schema.get("content_type") == "text/plain")
