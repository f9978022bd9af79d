"""The data step on gcp: generate here, upload to the lab's bucket."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from labctl import channels, datagen, drift, entrypoints
from labctl.backends.base import Context
from labctl.catalog import (
    BatchStep,
    DataStep,
    Lab,
    TrainStep,
)
from labctl.errors import BackendError


class DataSteps:
    # --- data ---------------------------------------------------------------------------------

    def data(self, *, step: DataStep, ctx: Context) -> dict[str, Any]:
        """Generate the dataset here; upload it under gs://<bucket>/data/<step>/.

        Adds what later steps need: `batch-input/` (validation rows as JSON lines of instances,
        what batch prediction reads) and, for AutoML image training, `automl-import.csv`
        (`gs://.../image.png,label` per image, the Vertex dataset's import file).
        """
        rows = ctx.rows or step.cloud_rows or step.rows
        bucket = ctx.output("bucket")
        prefix = f"data/{step.name}"
        base = f"gs://{bucket}/{prefix}/"
        with (
            tempfile.TemporaryDirectory(prefix="labctl-data-") as tmp,
            ctx.reporter.task(f"data {step.name}: {rows:,} rows -> {base}") as task,
        ):
            out = Path(tmp)
            schema = datagen.generate(
                step.generator,
                rows=rows,
                seed=step.seed,
                out_dir=out,
                validation_fraction=step.validation_fraction,
            )
            extra: dict[str, str] = {}
            batch_model = _batch_model_of(ctx.lab, step.name)
            if batch_model is not None:
                _batch_input(ctx.lab, batch_model, out / "validation", out / "batch-input", schema)
                extra["batch_input"] = f"{base}batch-input/"
            if _monitored(ctx.lab) and schema.get("content_type") != "text/plain":
                # Model Monitoring's baseline: the training features, with their names
                features = drift.channel_frame(out / "train", list(schema.get("features") or []))
                (out / "monitoring-baseline").mkdir()
                features.to_csv(out / "monitoring-baseline" / "train.csv", index=False)
                extra["monitoring_baseline"] = f"{base}monitoring-baseline/train.csv"
            if _automl_of(ctx.lab, step.name) and (out / "raw" / "labels.csv").is_file():
                lines = (out / "raw" / "labels.csv").read_text().splitlines()[1:]
                (out / "automl-import.csv").write_text(
                    "".join(f"{base}raw/{line}\n" for line in lines if line.strip())
                )
                extra["automl_import"] = f"{base}automl-import.csv"
            raw_columns = {
                p.stem: p.open(encoding="utf-8").readline().strip().split(",")
                for p in sorted((out / "raw").glob("*.csv"))
            }
            files = sorted(p for p in out.rglob("*") if p.is_file())
            task.advance(0, description=f"data {step.name}: uploading {len(files)} files")
            self._upload_many(
                step.name, bucket, [(f, f"{prefix}/{f.relative_to(out).as_posix()}") for f in files]
            )
            folders = sorted({p.name for p in out.iterdir() if p.is_dir()} - {"raw"})
        return {
            "gcs_uri": base,
            "channels": {d: f"{base}{d}/" for d in folders},
            "raw": f"{base}raw/",
            "rows": rows,
            "schema": schema,
            "raw_columns": raw_columns,
            **extra,
        }


def _data_step_result(ctx: Context, step_name: str) -> dict[str, Any]:
    for s in ctx.lab.steps:
        if isinstance(s, DataStep) and s.name in ctx.results:
            return ctx.results[s.name]
    raise BackendError(f"step '{step_name}' needs the lab's data step to have run first")


def _monitored(lab: Lab) -> bool:
    """Whether a monitor step needs the training features as a baseline."""
    return any(s.kind == "monitor" for s in lab.steps)


def _batch_model_of(lab: Lab, data_step: str) -> str | None:
    for step in lab.steps:
        if isinstance(step, BatchStep) and step.data == data_step:
            return step.model
    return None


def _automl_of(lab: Lab, data_step: str) -> bool:
    return any(
        isinstance(s, TrainStep) and s.algorithm == "automl-image" and s.data == data_step
        for s in lab.steps
    )


def _batch_input(lab: Lab, model_ref: str, src: Path, dst: Path, schema: dict[str, Any]) -> None:
    """Validation records as JSON lines of instances (the entry point's `batch_input`, else the
    CSV rows without their label)."""
    train = lab.train_of(model_ref)
    entry = entrypoints.resolve(train.algorithm, train.entry_point)
    module = entry.load() if entry else None
    if module is not None and hasattr(module, "batch_input"):
        module.batch_input(src, dst, schema)
        return
    tmp = dst.parent / "batch-csv"
    channels.strip_labels(src, tmp, text=False)
    dst.mkdir(parents=True, exist_ok=True)
    for file in sorted(tmp.iterdir()):
        lines = [
            json.dumps([float(x) if x else None for x in line.split(",")])
            for line in file.read_text().splitlines()
            if line.strip()
        ]
        (dst / f"{file.stem}.jsonl").write_text("\n".join(lines) + "\n")
    for file in tmp.iterdir():
        file.unlink()
    tmp.rmdir()
