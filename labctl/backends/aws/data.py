"""The data step on AWS: generate the dataset here and upload it to the lab's bucket."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labctl import channels, datagen, entrypoints
from labctl.backends.aws.algorithms import data_of
from labctl.backends.aws.api import AwsApi
from labctl.backends.base import Context
from labctl.catalog import BatchStep, DataStep, DeployStep, Lab, MonitorStep, TrainStep


class DataMixin(AwsApi):
    def data(self, *, step: DataStep, ctx: Context) -> dict[str, Any]:
        """Generate the dataset here, upload it under s3://<bucket>/data/<step>/.

        Besides the generator's `raw/`, `train/` and `validation/`, writes what later steps need:
        `train-features/` (no label; Random Cut Forest trains on it), `batch-input/` (validation
        without labels, one record per line) and `baseline/` (Model Monitor statistics and
        constraints of the features) when a step of the lab uses them.
        """
        rows = ctx.rows or step.cloud_rows or step.rows
        bucket = ctx.output("bucket")
        prefix = f"data/{step.name}"
        needs = derived_channels(ctx.lab, step.name)
        with (
            tempfile.TemporaryDirectory(prefix="labctl-data-") as tmp,
            ctx.reporter.task(
                f"data {step.name}: {rows:,} rows -> s3://{bucket}/{prefix}/"
            ) as task,
        ):
            out = Path(tmp)
            schema = datagen.generate(
                step.generator,
                rows=rows,
                seed=step.seed,
                out_dir=out,
                validation_fraction=step.validation_fraction,
            )
            text = schema.get("content_type") == "text/plain"
            if "train-features" in needs:
                channels.strip_labels(out / "train", out / "train-features", text=text, jsonl=False)
            if "batch-input" in needs and (script := batch_script(ctx.lab, step.name)):
                script(out / "validation", out / "batch-input", schema)
            elif "batch-input" in needs:
                channels.strip_labels(
                    out / "validation", out / "batch-input", text=text, jsonl=text
                )
            baseline = None
            if "baseline" in needs and not text:
                channels.baseline(out / "train", schema, out / "baseline")
                baseline = f"s3://{bucket}/{prefix}/baseline/"
            files = sorted(p for p in out.rglob("*") if p.is_file())
            for file in files:
                key = f"{prefix}/{file.relative_to(out).as_posix()}"
                task.advance(0, description=f"data {step.name}: uploading {key}")
                self._upload(step.name, file, bucket, key)
            folders = sorted({p.name for p in out.iterdir() if p.is_dir()} - {"raw", "baseline"})
        return {
            "s3_uri": f"s3://{bucket}/{prefix}/",
            "channels": {d: f"s3://{bucket}/{prefix}/{d}/" for d in folders},
            "raw": f"s3://{bucket}/{prefix}/raw/",
            "baseline": baseline,
            "rows": rows,
            "schema": schema,
        }


def batch_script(lab: Lab, data_step: str) -> Callable[..., None] | None:
    """The `batch_input(src, dst, schema)` of the script-mode entry point whose model a batch
    step scores this data with (e.g. images as JSON lines), when it has one."""
    for step in lab.steps:
        if isinstance(step, BatchStep) and step.data == data_step:
            train = lab.train_of(step.model)
            found = entrypoints.resolve(train.algorithm, train.entry_point)
            if train.entry_point and found and hasattr(found.load(), "batch_input"):
                return found.load().batch_input  # type: ignore[no-any-return]
    return None


def derived_channels(lab: Lab, data_step: str) -> set[str]:
    """Which extra folders the lab's later steps need from this data step."""
    needs: set[str] = set()
    for step in lab.steps:
        match step:
            case TrainStep(algorithm="random-cut-forest") if step.data == data_step:
                needs.add("train-features")
            case BatchStep() if step.data == data_step:
                needs.add("batch-input")
            case MonitorStep() if "data-quality" in step.checks:
                deploy = lab.step(step.endpoint)
                assert isinstance(deploy, DeployStep)
                if data_of(lab, deploy.model) == data_step:
                    needs.add("baseline")
    return needs
