"""Training on gcp: CustomJobs running the lab's entry point, AutoML image pipelines."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.cloud import aiplatform_v1 as aip
from google.protobuf import duration_pb2, json_format, struct_pb2

from labctl import entrypoints
from labctl.backends.base import Context, hp_strings
from labctl.backends.gcp.client import (
    JOB_DONE,
    OPERATION_TIMEOUT,
    PIPELINE_DONE,
    WAIT_MARGIN,
)
from labctl.backends.gcp.images import (
    AUTOML_IMAGE_DEFINITION,
    IMAGE_DATASET_SCHEMA,
    IMAGE_IMPORT_SCHEMA,
    TRAINING_IMAGES,
)
from labctl.backends.gcp.messages import (
    _fuse,
    _labels,
    _plain,
    _seconds,
    machine_spec,
    vertex_name,
)
from labctl.backends.gcp.package import LAUNCHER_MODULE, build_package
from labctl.catalog import TrainStep
from labctl.errors import BackendError, Unsupported
from labctl.ledger import naive_utc


class Training:
    # --- training -----------------------------------------------------------------------------

    def train(self, *, step: TrainStep, ctx: Context) -> dict[str, Any]:
        """A CustomJob (or, for automl-image, an AutoML training pipeline), waited for."""
        if step.algorithm == "automl-image":
            return self._automl_image(step, ctx)
        name = vertex_name(step.name, ctx.run.id)
        bucket = ctx.output("bucket")
        output = f"gs://{bucket}/models/{name}/"
        spec = self._job_spec(step, ctx, output=output, hps=step.hyperparameters)
        job = aip.CustomJob(display_name=name, job_spec=spec, labels=_labels(ctx))
        res = self._add(
            ctx,
            "training-job",
            name,
            instance_type=step.instance_type,
            instance_count=step.instance_count,
            spot=step.spot,
            attrs={
                "step": step.name,
                "vertex": "custom-job",
                "entry_point": step.entry_point,
                "hyperparameters": hp_strings(step.hyperparameters),
            },
        )
        with ctx.creating(res):
            created = self._api(
                "job",
                "create_custom_job",
                step=step.name,
                request=aip.CreateCustomJobRequest(parent=self.parent, custom_job=job),
            )
        ctx.ledger.update_resource(res.id, status="JOB_STATE_QUEUED", provider_id=created.name)
        timeout = step.max_runtime + (step.max_wait or 0) + WAIT_MARGIN
        with ctx.reporter.task(f"train {name} ({step.entry_point}, {step.instance_type})") as t:
            final = self._wait(
                f"custom job {name}",
                lambda: self._api("job", "get_custom_job", step=step.name, name=created.name),
                done=JOB_DONE,
                timeout=timeout,
                task=t,
            )
        state = final.state.name
        billable = _seconds(final.start_time, final.end_time)
        ctx.ledger.close_resource(
            res.id, status=state, billable_seconds=billable, stopped_at=naive_utc(final.end_time)
        )
        if state != "JOB_STATE_SUCCEEDED":
            raise BackendError(
                f"step '{step.name}': custom job {name} {state}: "
                f"{final.error.message or 'no reason given'}",
                hint=f"logs: {output}output/log.txt and the job's page in the Vertex AI console",
            )
        metrics = self._metrics(f"{output}output/metrics.json", step.name, ctx)
        ctx.ledger.update_resource(res.id, attrs={"metrics": metrics})
        return {
            "job": name,
            "resource": created.name,
            "status": state,
            "model_artifact": f"{output}model/",
            "metrics": metrics,
            "billable_seconds": billable,
            "entry_point": step.entry_point,
        }

    def _job_spec(
        self,
        step: TrainStep,
        ctx: Context,
        *,
        output: str,
        hps: dict[str, Any],
        env: dict[str, str] | None = None,
    ) -> aip.CustomJobSpec:
        """The CustomJobSpec of a train step: the entry point in a prebuilt container."""
        data = ctx.result(step.name, step.data)
        entry = entrypoints.resolve(step.algorithm, step.entry_point)
        if entry is None or step.algorithm not in TRAINING_IMAGES:
            raise Unsupported(
                f"step '{step.name}': no Vertex AI container for "
                f"'{step.algorithm}' / '{step.entry_point}'"
            )
        package = self._code_package(ctx, step.name)
        variables = {
            f"SM_CHANNEL_{c.upper()}": _fuse(uri)
            for c, uri in data["channels"].items()
            if c in ("train", "validation")
        }
        variables.update(env or {})
        args = [f"--entry-point={entry.module}"] + [
            f"--{k}={v}" for k, v in hp_strings(hps).items()
        ]
        pool = {
            "machine_spec": machine_spec(step.instance_type),
            "python_package_spec": aip.PythonPackageSpec(
                executor_image_uri=TRAINING_IMAGES[step.algorithm].format(registry=self.registry),
                package_uris=[package],
                python_module=LAUNCHER_MODULE,
                args=args,
                env=[aip.EnvVar(name=k, value=v) for k, v in sorted(variables.items())],
            ),
            "disk_spec": aip.DiskSpec(
                boot_disk_type="pd-ssd", boot_disk_size_gb=max(100, step.volume_gb)
            ),
        }
        pools = [aip.WorkerPoolSpec(replica_count=1, **pool)]
        if step.instance_count > 1:  # the chief, then the other workers
            pools.append(aip.WorkerPoolSpec(replica_count=step.instance_count - 1, **pool))
        # STANDARD is on-demand capacity (ON_DEMAND is deprecated); max_wait_duration applies only
        # to FLEX_START, so SPOT jobs are sent without it (a spot job waits in the queue instead)
        scheduling = aip.Scheduling(
            timeout=duration_pb2.Duration(seconds=step.max_runtime),
            strategy="SPOT" if step.spot else "STANDARD",
        )
        return aip.CustomJobSpec(
            worker_pool_specs=pools,
            scheduling=scheduling,
            service_account=ctx.output("service_account_email"),
            base_output_directory=aip.GcsDestination(output_uri_prefix=output),
        )

    def _automl_image(self, step: TrainStep, ctx: Context) -> dict[str, Any]:
        """A Vertex image dataset (imported from the data step's CSV), then an AutoML image
        classification TrainingPipeline; its model is the step's model."""
        data = ctx.result(step.name, step.data)
        source = data.get("automl_import")
        if not source:
            raise BackendError(
                f"step '{step.name}': data step '{step.data}' wrote no image "
                "import file (AutoML needs image files)"
            )
        name = vertex_name(step.name, ctx.run.id)
        labels = _labels(ctx)
        ds_row = self._add(
            ctx, "service", f"{name}-dataset", attrs={"step": step.name, "vertex": "dataset"}
        )
        with ctx.creating(ds_row):
            op = self._api(
                "dataset",
                "create_dataset",
                step=step.name,
                request=aip.CreateDatasetRequest(
                    parent=self.parent,
                    dataset=aip.Dataset(
                        display_name=f"{name}-images",
                        metadata_schema_uri=IMAGE_DATASET_SCHEMA,
                        labels=labels,
                    ),
                ),
            )
            dataset = self._result(op, f"creating dataset {name}-images", step.name)
        ctx.ledger.update_resource(ds_row.id, status="created", provider_id=dataset.name)
        with ctx.reporter.task(f"train {name}: importing images into {dataset.name}"):
            op = self._api(
                "dataset",
                "import_data",
                step=step.name,
                request=aip.ImportDataRequest(
                    name=dataset.name,
                    import_configs=[
                        aip.ImportDataConfig(
                            gcs_source=aip.GcsSource(uris=[source]),
                            import_schema_uri=IMAGE_IMPORT_SCHEMA,
                        )
                    ],
                ),
            )
            self._result(op, f"importing {source}", step.name, timeout=3 * OPERATION_TIMEOUT)
        hp = step.hyperparameters
        inputs = {
            "modelType": str(hp.get("model_type", "CLOUD")),
            "budgetMilliNodeHours": int(hp.get("budget_milli_node_hours", 8000)),
            "disableEarlyStopping": bool(hp.get("disable_early_stopping", False)),
            "multiLabel": bool(hp.get("multi_label", False)),
        }
        pipeline = aip.TrainingPipeline(
            display_name=name,
            input_data_config=aip.InputDataConfig(
                dataset_id=dataset.name.rsplit("/", 1)[-1],
                fraction_split=aip.FractionSplit(
                    training_fraction=0.8, validation_fraction=0.1, test_fraction=0.1
                ),
            ),
            training_task_definition=AUTOML_IMAGE_DEFINITION,
            training_task_inputs=json_format.ParseDict(inputs, struct_pb2.Value()),
            model_to_upload=aip.Model(display_name=f"{name}-model", labels=labels),
            labels=labels,
        )
        res = self._add(
            ctx,
            "training-job",
            name,
            instance_type="automl",
            instance_count=1,
            attrs={
                "step": step.name,
                "vertex": "training-pipeline",
                "budget_milli_node_hours": inputs["budgetMilliNodeHours"],
            },
        )
        # the pipeline makes the model: its row is written now, its name filled in at the end
        model_row = self._add(
            ctx, "model", f"{name}-model", attrs={"step": step.name, "source": "automl"}
        )
        with ctx.creating(res), ctx.creating(model_row):
            created = self._api(
                "pipeline",
                "create_training_pipeline",
                step=step.name,
                request=aip.CreateTrainingPipelineRequest(
                    parent=self.parent, training_pipeline=pipeline
                ),
            )
        ctx.ledger.update_resource(res.id, status="PIPELINE_STATE_QUEUED", provider_id=created.name)
        timeout = max(step.max_runtime, inputs["budgetMilliNodeHours"] * 3.6) + WAIT_MARGIN
        with ctx.reporter.task(f"train {name} (AutoML image, {inputs['modelType']})") as t:
            final = self._wait(
                f"training pipeline {name}",
                lambda: self._api(
                    "pipeline", "get_training_pipeline", step=step.name, name=created.name
                ),
                done=PIPELINE_DONE,
                timeout=timeout,
                task=t,
            )
        state = final.state.name
        meta = _plain(final.training_task_metadata) or {}
        node_hours = float(meta.get("costMilliNodeHours", 0) or 0) / 1000 if meta else None
        ctx.ledger.update_resource(res.id, attrs={"node_hours": node_hours})
        ctx.ledger.close_resource(
            res.id,
            status=state,
            stopped_at=naive_utc(final.end_time),
            billable_seconds=node_hours * 3600 if node_hours else None,
        )
        if state != "PIPELINE_STATE_SUCCEEDED":
            ctx.ledger.close_resource(model_row.id, status="not-created")
            raise BackendError(
                f"step '{step.name}': AutoML pipeline {name} {state}: "
                f"{final.error.message or 'no reason given'}",
                hint="the Vertex AI console's Training > Training pipelines page shows why",
            )
        model = final.model_to_upload.name
        ctx.ledger.update_resource(model_row.id, status="created", provider_id=model)
        return {
            "job": name,
            "resource": created.name,
            "status": state,
            "model": model,
            "dataset": dataset.name,
            "node_hours": node_hours,
            "metrics": {},
        }

    def _code_package(self, ctx: Context, step_name: str) -> str:
        """The entry points + launcher as a source package in the bucket (built once)."""
        if self._package is None:
            data, digest = build_package()
            key = f"code/labctl-trainer-{digest}.tar.gz"
            with tempfile.TemporaryDirectory(prefix="labctl-code-") as tmp:
                path = Path(tmp) / Path(key).name
                path.write_bytes(data)
                self._upload_many(step_name, ctx.output("bucket"), [(path, key)])
            self._package = f"gs://{ctx.output('bucket')}/{key}"
        return self._package

    def _metrics(self, uri: str, step_name: str, ctx: Context) -> dict[str, float]:
        """The job's metrics.json (written by the launcher); {} with a warning when missing."""
        bucket, _, key = uri.removeprefix("gs://").partition("/")
        try:
            raw = self._storage().bucket(bucket).blob(key).download_as_bytes()
            return {k: float(v) for k, v in json.loads(raw).items() if v is not None}
        except (gexc.GoogleAPIError, auth_exc.GoogleAuthError, ValueError) as exc:
            ctx.reporter.warn(f"step '{step_name}': no metrics at {uri} ({exc})")
            return {}
