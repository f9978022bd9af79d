"""The `gcp` target: the lab's steps on Vertex AI (GAPIC `aiplatform_v1`) and BigQuery.

Terraform (terraform/modules/gcp) makes the lab's bucket, service account and BigQuery dataset;
this module runs the steps against them: data to Cloud Storage, custom training (a CustomJob
running the lab's entry point in a prebuilt training container), hyperparameter tuning jobs,
AutoML image training pipelines, Model upload with a prebuilt prediction container, endpoints
with traffic splits, batch prediction, and the labs' BigQuery / BigQuery ML steps. Every billable
resource is written to the ledger before the call that creates it and carries the labctl labels.

Design choices:
- Only the GAPIC layer (`google.cloud.aiplatform_v1`) is used, never the high-level SDK: every
  request is a typed protobuf message built here (unknown fields are refused at construction),
  and tests patch the client methods as google-cloud-aiplatform's own unit tests do.
- Credentials come only from Application Default Credentials (`google.auth.default`), asked for
  on first use, so `labctl plan --target gcp` works without them.
- Entry points run unchanged: a small source package (the entry points + `gcp_launcher`) is
  built here and uploaded to the lab's bucket; the launcher maps Vertex's conventions (FUSE
  paths, `--hp=value` arguments, AIP_MODEL_DIR, hypertune metrics) onto the SageMaker contract.
- Every Google call goes through `_api`/`_result`, the one place API errors become BackendErrors
  with a hint. Waiting polls with an injectable `sleep` and `clock`; teardown is idempotent.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import re
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import google.auth
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.cloud import aiplatform_v1 as aip
from google.protobuf import duration_pb2, field_mask_pb2, json_format, struct_pb2

from labctl import channels, config, datagen, entrypoints, naming
from labctl.backends import gcp_bigquery
from labctl.backends.base import Backend, Context, Finding, hp_string, hp_strings
from labctl.backends.modules import BIGQUERY, GcpModule
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
from labctl.errors import BackendError, LabctlError, Unsupported, UsageError
from labctl.ledger import Ledger, Resource, naive_utc

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
CREDENTIALS_HINT = (
    "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a "
    "service-account key file), then `labctl doctor`"
)
# Vertex AI regions labctl knows -> the Artifact Registry multi-region of the prebuilt containers
# fmt: off
REGIONS: dict[str, str] = {
    "us-central1": "us", "us-east1": "us", "us-east4": "us", "us-west1": "us",
    "us-west2": "us", "us-west4": "us", "us-south1": "us", "northamerica-northeast1": "us",
    "southamerica-east1": "us", "europe-west1": "europe", "europe-west2": "europe",
    "europe-west3": "europe", "europe-west4": "europe", "europe-west6": "europe",
    "europe-west9": "europe", "europe-north1": "europe", "me-west1": "europe",
    "asia-east1": "asia", "asia-east2": "asia", "asia-northeast1": "asia",
    "asia-northeast3": "asia", "asia-south1": "asia", "asia-southeast1": "asia",
    "australia-southeast1": "asia",
}
# fmt: on
# the lab's `algorithm` -> the prebuilt training container its entry point runs in
TRAINING_IMAGES: dict[str, str] = {
    "vertex-custom": "{registry}-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest",
    "sklearn": "{registry}-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest",
    # XGBoost scripts run in the scikit-learn image too, with the package's pinned xgboost
    "xgboost": "{registry}-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest",
    "tensorflow": "{registry}-docker.pkg.dev/vertex-ai/training/tf-cpu.2-14.py310:latest",
}
# prediction framework -> the prebuilt prediction container serving that artifact
PREDICTION_IMAGES: dict[str, str] = {
    "sklearn": "{registry}-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest",
    "xgboost": "{registry}-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-1:latest",
}
# entry point -> the framework of the artifact it writes for serving (model.joblib / model.bst)
SERVED_AS: dict[str, str] = {
    "recommender": "sklearn",
    "image_classifier": "sklearn",
    "automl_image": "sklearn",
    "forecaster": "xgboost",
}
# pinned so that the artifacts unpickle in the prediction containers above
PACKAGE_REQUIRES = [
    "numpy<2",
    "pandas<2.3",
    "scipy<1.14",
    "scikit-learn==1.6.*",
    "xgboost==2.1.*",
    "joblib",
]
AUTOML_IMAGE_DEFINITION = (
    "gs://google-cloud-aiplatform/schema/trainingjob/definition/"
    "automl_image_classification_1.0.0.yaml"
)
IMAGE_DATASET_SCHEMA = "gs://google-cloud-aiplatform/schema/dataset/metadata/image_1.0.0.yaml"
IMAGE_IMPORT_SCHEMA = (
    "gs://google-cloud-aiplatform/schema/dataset/ioformat/"
    "image_classification_single_label_io_format_1.0.0.yaml"
)
SCALE = {
    "auto": "SCALE_TYPE_UNSPECIFIED",
    "linear": "UNIT_LINEAR_SCALE",
    "logarithmic": "UNIT_LOG_SCALE",
    "reverse-logarithmic": "UNIT_REVERSE_LOG_SCALE",
}
ALGORITHMS = {  # Vertex AI Vizier: ALGORITHM_UNSPECIFIED is its Bayesian optimisation
    "bayesian": "ALGORITHM_UNSPECIFIED",
    "random": "RANDOM_SEARCH",
    "grid": "GRID_SEARCH",
    "hyperband": "ALGORITHM_UNSPECIFIED",
}
JOB_DONE = (
    "JOB_STATE_SUCCEEDED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_EXPIRED",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
)
PIPELINE_DONE = ("PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED")
POLL_SECONDS = 30.0
WAIT_MARGIN = 1800  # beyond a job's own limits (queueing, spot capacity) before labctl gives up
DEPLOY_TIMEOUT = 3600
OPERATION_TIMEOUT = 1800


class GcpBackend(GcpModule, Backend):
    name = "gcp"

    def __init__(
        self,
        *,
        project: str | None = None,
        region: str | None = None,
        credentials: Any = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        gcp = config.settings().gcp
        self.region = region or gcp.region
        if self.region not in REGIONS:
            raise UsageError(
                f"gcp: unknown Vertex AI region '{self.region}'",
                hint="set `[gcp] region` in the labctl config to one of: " + ", ".join(REGIONS),
            )
        self._project = project or gcp.project
        self._credentials = credentials
        self._clients: dict[str, Any] = {}
        self._sleep = sleep or time.sleep
        self._clock = clock or time.monotonic
        self.poll_seconds = POLL_SECONDS if poll_seconds is None else poll_seconds
        self._package: str | None = None

    # --- identity -------------------------------------------------------------------------------

    @property
    def project(self) -> str:
        """`[gcp] project`, else the ADC project; a clear error when neither is set."""
        if not self._project:
            _, adc_project = self._adc()
            self._project = adc_project
        if not self._project:
            raise UsageError(
                "gcp: no Google Cloud project",
                hint="set `[gcp] project` in the labctl config, or GOOGLE_CLOUD_PROJECT, or "
                "`gcloud config set project ID` before `gcloud auth application-default login`",
            )
        return self._project

    def _adc(self) -> tuple[Any, str | None]:
        """Application Default Credentials (asked for once)."""
        if self._credentials is None:
            try:
                self._credentials, project = google.auth.default(scopes=SCOPES)
            except auth_exc.DefaultCredentialsError as exc:
                raise BackendError(
                    f"gcp: no Application Default Credentials ({str(exc).splitlines()[0]})",
                    hint=CREDENTIALS_HINT,
                ) from None
            self._adc_project = project
        return self._credentials, getattr(self, "_adc_project", None)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def registry(self) -> str:
        return REGIONS[self.region or "us-central1"]

    # --- what this target can do ------------------------------------------------------------

    def check(self, lab: Lab) -> list[Finding]:
        findings = super().check(lab)
        for step in lab.steps:
            match step:
                case DataStep() if not datagen.available(step.generator):
                    findings.append(Finding(step.name, f"no generator '{step.generator}' yet"))
                case TrainStep() if step.algorithm == "automl-image":
                    pass
                case TrainStep() if step.algorithm not in TRAINING_IMAGES:
                    findings.append(
                        Finding(
                            step.name,
                            f"'{step.algorithm}' has no prebuilt Vertex AI training container in "
                            f"labctl (known: automl-image, {', '.join(TRAINING_IMAGES)})",
                        )
                    )
                case TrainStep() if entrypoints.resolve(step.algorithm, step.entry_point) is None:
                    findings.append(
                        Finding(
                            step.name,
                            f"no entry point '{step.entry_point}' to run in the container",
                        )
                    )
                case TuneStep() if step.strategy == "hyperband":
                    findings.append(
                        Finding(
                            step.name,
                            "Vertex AI Vizier has no Hyperband: Bayesian search with median "
                            "automated stopping instead",
                            fatal=False,
                        )
                    )
                case DeployStep():
                    refs = [v.model for v in step.variants] or [step.model]
                    for ref in dict.fromkeys(refs):
                        reason = _unservable(lab, ref)
                        if reason:
                            findings.append(Finding(step.name, reason))
                case BatchStep():
                    reason = _unservable(lab, step.model)
                    if reason or lab.train_of(step.model).algorithm == "automl-image":
                        findings.append(
                            Finding(
                                step.name,
                                reason
                                or "batch prediction of AutoML image models (image files in, "
                                "not pixel rows) is not built yet; batch a custom model",
                            )
                        )
                case MonitorStep():
                    findings.append(
                        Finding(
                            step.name,
                            "Vertex AI Model Monitoring is not configured by labctl yet: the step "
                            "is skipped (the endpoint serves without monitoring)",
                            fatal=False,
                        )
                    )
                case PipelineStep():
                    findings.append(
                        Finding(
                            step.name,
                            "Vertex AI Pipelines are not created yet; "
                            "its steps ran once in this lab",
                            fatal=False,
                        )
                    )
                case ServiceStep() if step.service in BIGQUERY:
                    try:
                        gcp_bigquery.kind(step)
                    except LabctlError as exc:
                        findings.append(Finding(step.name, exc.message, fatal=not step.optional))
                case ServiceStep():
                    findings.append(
                        Finding(
                            step.name,
                            f"labctl does not provision '{step.service}' on gcp yet"
                            + ("; skipped" if step.optional else ""),
                            fatal=not step.optional,
                        )
                    )
        return findings

    def module_inputs(self, ctx_workspace: Path, lab: Lab | None = None) -> dict[str, Any]:
        """The module mixin's inputs, with the ADC project when none is configured."""
        inputs = super().module_inputs(ctx_workspace, lab)
        if not inputs["project"]:
            with contextlib.suppress(LabctlError):
                inputs["project"] = self.project
        return inputs

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
                python_module="labctl.backends.gcp_launcher",
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
        scheduling = aip.Scheduling(
            timeout=duration_pb2.Duration(seconds=step.max_runtime),
            strategy="SPOT" if step.spot else "ON_DEMAND",
        )
        if step.spot and step.max_wait:
            scheduling.max_wait_duration = duration_pb2.Duration(seconds=step.max_wait)
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

    # --- models, endpoints, batch ---------------------------------------------------------------

    def deploy(self, *, step: DeployStep, ctx: Context) -> dict[str, Any]:
        """Model(s) uploaded, an endpoint, each model deployed, then the traffic split."""
        variants = [
            (v.name, v.model, v.weight, v.instance_type or step.instance_type)
            for v in step.variants
        ] or [(step.name, step.model, 1.0, step.instance_type)]
        models = {
            ref: self._model_for(ctx, step.name, ref)
            for ref in dict.fromkeys(v[1] for v in variants)
        }
        name = vertex_name(step.name, ctx.run.id)
        automl = {ref for ref in models if ctx.lab.train_of(ref).algorithm == "automl-image"}
        types = ["automl" if ref in automl else itype for _, ref, _, itype in variants]
        split = traffic_percentages([w for _, _, w, _ in variants])
        res = self._add(
            ctx,
            "endpoint",
            name,
            with_price=False,
            **self._endpoint_fields(ctx, types, step.instance_count),
            attrs={
                "step": step.name,
                "models": models,
                "content_type": "application/json",
                "variants": [
                    {"name": n, "model": m, "weight": w, "instance_type": t}
                    for n, m, w, t in variants
                ],
            },
        )
        with ctx.creating(res):
            op = self._api(
                "endpoint",
                "create_endpoint",
                step=step.name,
                request=aip.CreateEndpointRequest(
                    parent=self.parent,
                    endpoint=aip.Endpoint(display_name=name, labels=_labels(ctx)),
                ),
            )
            endpoint = self._result(op, f"creating endpoint {name}", step.name)
        ctx.ledger.update_resource(res.id, status="created", provider_id=endpoint.name)
        deployed: dict[str, str] = {}
        high = max(step.instance_count, step.autoscaling.max_instances if step.autoscaling else 1)
        with ctx.reporter.task(
            f"deploy {name}: {len(variants)} model(s)", total=len(variants)
        ) as t:
            for _i, (v_name, ref, _, itype) in enumerate(variants):
                dm = aip.DeployedModel(
                    model=models[ref], display_name=v_name, disable_container_logging=False
                )
                if ref in automl:
                    dm.automatic_resources = aip.AutomaticResources(
                        min_replica_count=step.instance_count, max_replica_count=high
                    )
                else:
                    dm.dedicated_resources = aip.DedicatedResources(
                        machine_spec=machine_spec(itype),
                        min_replica_count=step.instance_count,
                        max_replica_count=high,
                    )
                # every model lands with no traffic but the first; the split is set at the end
                first = next(iter(deployed.values()), None)
                traffic = (
                    {"0": 100}
                    if first is None
                    else {"0": 0, **{d: 100 if d == first else 0 for d in deployed.values()}}
                )
                op = self._api(
                    "endpoint",
                    "deploy_model",
                    step=step.name,
                    request=aip.DeployModelRequest(
                        endpoint=endpoint.name, deployed_model=dm, traffic_split=traffic
                    ),
                )
                response = self._result(
                    op, f"deploying {ref} to {name}", step.name, timeout=DEPLOY_TIMEOUT
                )
                deployed[v_name] = response.deployed_model.id
                ctx.ledger.update_resource(res.id, attrs={"deployed": dict(deployed)})
                t.advance()
        final_split = {deployed[v[0]]: pct for v, pct in zip(variants, split, strict=True)}
        if len(variants) > 1:
            self._api(
                "endpoint",
                "update_endpoint",
                step=step.name,
                request=aip.UpdateEndpointRequest(
                    endpoint=aip.Endpoint(name=endpoint.name, traffic_split=final_split),
                    update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
                ),
            )
        ctx.ledger.update_resource(res.id, status="deployed", attrs={"traffic_split": final_split})
        return {
            "endpoint": name,
            "resource": endpoint.name,
            "models": models,
            "deployed_models": deployed,
            "traffic_split": {v[0]: pct for v, pct in zip(variants, split, strict=True)},
            "content_type": "application/json",
        }

    def batch(self, *, step: BatchStep, ctx: Context) -> dict[str, Any]:
        """Batch prediction over the data step's batch-input (JSON lines of instances)."""
        data = ctx.result(step.name, step.data)
        source = data.get("batch_input")
        if not source:
            raise BackendError(f"step '{step.name}': data step '{step.data}' has no batch input")
        model = self._model_for(ctx, step.name, step.model)
        name = vertex_name(step.name, ctx.run.id)
        output = f"gs://{ctx.output('bucket')}/batch/{name}/"
        job = aip.BatchPredictionJob(
            display_name=name,
            model=model,
            input_config=aip.BatchPredictionJob.InputConfig(
                instances_format="jsonl", gcs_source=aip.GcsSource(uris=[f"{source}*"])
            ),
            output_config=aip.BatchPredictionJob.OutputConfig(
                predictions_format="jsonl",
                gcs_destination=aip.GcsDestination(output_uri_prefix=output),
            ),
            dedicated_resources=aip.BatchDedicatedResources(
                machine_spec=machine_spec(step.instance_type),
                starting_replica_count=step.instance_count,
                max_replica_count=step.instance_count,
            ),
            service_account=ctx.output("service_account_email"),
            labels=_labels(ctx),
        )
        res = self._add(
            ctx,
            "batch-job",
            name,
            instance_type=step.instance_type,
            instance_count=step.instance_count,
            attrs={"step": step.name, "model": model, "output": output},
        )
        with ctx.creating(res):
            created = self._api(
                "job",
                "create_batch_prediction_job",
                step=step.name,
                request=aip.CreateBatchPredictionJobRequest(
                    parent=self.parent, batch_prediction_job=job
                ),
            )
        ctx.ledger.update_resource(res.id, status="JOB_STATE_QUEUED", provider_id=created.name)
        with ctx.reporter.task(f"batch {name} ({step.instance_type})") as t:
            final = self._wait(
                f"batch prediction job {name}",
                lambda: self._api(
                    "job", "get_batch_prediction_job", step=step.name, name=created.name
                ),
                done=JOB_DONE,
                timeout=max(3600, 4 * step.expected_runtime) + WAIT_MARGIN,
                task=t,
            )
        state = final.state.name
        ctx.ledger.close_resource(
            res.id,
            status=state,
            billable_seconds=_seconds(final.start_time, final.end_time),
            stopped_at=naive_utc(final.end_time),
        )
        if state != "JOB_STATE_SUCCEEDED":
            raise BackendError(
                f"step '{step.name}': batch prediction {name} {state}: "
                f"{final.error.message or 'no reason given'}"
            )
        stats = final.completion_stats
        return {
            "job": name,
            "resource": created.name,
            "model": model,
            "input": source,
            "output": final.output_info.gcs_output_directory or output,
            "status": state,
            "records": int(stats.successful_count),
            "failed": int(stats.failed_count),
        }

    def monitor(self, *, step: MonitorStep, ctx: Context) -> dict[str, Any]:
        ctx.reporter.warn(f"step '{step.name}': Vertex AI Model Monitoring is not configured")
        return {
            "skipped": "Vertex AI Model Monitoring is not configured by labctl yet",
            "endpoint": ctx.results.get(step.endpoint, {}).get("endpoint"),
        }

    def pipeline(self, *, step: PipelineStep, ctx: Context) -> dict[str, Any]:
        return {
            "skipped": "Vertex AI Pipelines are not created by labctl yet; its steps ran "
            "once in this lab",
            "steps": step.steps,
        }

    def service(self, *, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        """BigQuery / BigQuery ML steps as load and query jobs; other services refused."""
        if step.service not in BIGQUERY:
            if not step.optional:
                raise Unsupported(
                    f"step '{step.name}': labctl does not provision '{step.service}' on gcp yet",
                    hint="the lab cannot run on gcp until it does",
                )
            ctx.reporter.warn(f"step '{step.name}': '{step.service}' is not provisioned; skipped")
            return {
                "skipped": f"'{step.service}' is not provisioned by labctl on gcp yet (optional)"
            }
        kind = gcp_bigquery.kind(step)
        dataset = f"{self.project}.{ctx.output('bigquery_dataset')}"
        wanted = step.settings.get("location")
        if wanted and str(wanted).lower() != self.region:
            ctx.reporter.warn(
                f"step '{step.name}': the lab's BigQuery dataset is in {self.region} (the "
                f"Terraform module's region), not {wanted}; jobs run there"
            )
        labels = _labels(ctx)
        if kind == "load":
            data = _data_step_result(ctx, step.name)
            columns = data.get("raw_columns", {})
            jobs = gcp_bigquery.load_jobs(
                step, source=data["raw"], table_prefix=dataset, columns=columns, labels=labels
            )
            done = [
                self._bq_job(
                    ctx,
                    step,
                    "load",
                    lambda u=u, t=t, c=c: self._bq().load_table_from_uri(u, t, job_config=c),
                    detail=t,
                )
                for u, t, c in jobs
            ]
            return {"dataset": dataset, "tables": [t for _, t, _ in jobs], "jobs": done}
        done = [
            self._bq_job(
                ctx,
                step,
                "query",
                lambda s=sql, c=cfg: self._bq().query(s, job_config=c),
                detail=sql.splitlines()[0][:80],
            )
            for sql, cfg in gcp_bigquery.statements(step, dataset, labels)
        ]
        return {"dataset": dataset, "kind": kind, "jobs": done}

    # --- teardown, status, invoke -------------------------------------------------------------

    def teardown(self, resource: Resource, ledger: Ledger) -> None:
        """Delete (or cancel) one resource; one already gone counts as deleted."""
        name = resource.provider_id
        attrs = resource.attrs or {}
        if not name or resource.kind == "stack":
            return
        match resource.kind:
            case "endpoint":
                self._undeploy_all(name)
                op = self._api("endpoint", "delete_endpoint", gone_ok=True, name=name)
                if op is not None:
                    self._result(op, f"deleting endpoint {resource.name}", None, gone_ok=True)
            case "model":
                op = self._api("model", "delete_model", gone_ok=True, name=name)
                if op is not None:
                    self._result(op, f"deleting model {resource.name}", None, gone_ok=True)
            case "training-job" if attrs.get("vertex") == "training-pipeline":
                self._cancel("pipeline", "training_pipeline", name, PIPELINE_DONE)
            case "training-job":
                self._cancel("job", "custom_job", name, JOB_DONE)
            case "tuning-job":
                self._cancel("job", "hyperparameter_tuning_job", name, JOB_DONE)
            case "batch-job":
                self._cancel("job", "batch_prediction_job", name, JOB_DONE)
            case "service" if attrs.get("vertex") == "dataset":
                op = self._api("dataset", "delete_dataset", gone_ok=True, name=name)
                if op is not None:
                    self._result(op, f"deleting dataset {resource.name}", None, gone_ok=True)
            case _:
                pass  # BigQuery jobs are finished; their tables go with the dataset (terraform)

    def _undeploy_all(self, endpoint: str) -> None:
        """Undeploy every model of an endpoint, moving traffic off each before it goes."""
        found = self._api("endpoint", "get_endpoint", gone_ok=True, name=endpoint)
        if found is None:
            return
        ids = [d.id for d in found.deployed_models]
        for i, deployed_id in enumerate(ids):
            rest = ids[i + 1 :]
            traffic = {rest[0]: 100, **{d: 0 for d in rest[1:]}} if rest else {}
            op = self._api(
                "endpoint",
                "undeploy_model",
                gone_ok=True,
                request=aip.UndeployModelRequest(
                    endpoint=endpoint, deployed_model_id=deployed_id, traffic_split=traffic
                ),
            )
            if op is not None:
                self._result(
                    op, f"undeploying {deployed_id}", None, gone_ok=True, timeout=DEPLOY_TIMEOUT
                )

    def _cancel(self, service: str, what: str, name: str, done: tuple[str, ...]) -> None:
        found = self._api(service, f"get_{what}", gone_ok=True, name=name)
        if found is not None and found.state.name not in done:
            self._api(service, f"cancel_{what}", gone_ok=True, name=name)

    def live_status(self, resource: Resource) -> str:
        getters = {
            "endpoint": ("endpoint", "get_endpoint"),
            "model": ("model", "get_model"),
            "tuning-job": ("job", "get_hyperparameter_tuning_job"),
            "batch-job": ("job", "get_batch_prediction_job"),
        }
        if resource.kind == "training-job":
            vertex = (resource.attrs or {}).get("vertex")
            getters["training-job"] = (
                ("pipeline", "get_training_pipeline")
                if vertex == "training-pipeline"
                else ("job", "get_custom_job")
            )
        if resource.kind not in getters or not resource.provider_id:
            return resource.status
        try:
            found = self._api(*getters[resource.kind], gone_ok=True, name=resource.provider_id)
        except LabctlError as exc:
            return f"unknown ({exc.message[:60]})"
        if found is None:
            return "gone"
        if resource.kind == "endpoint":
            return f"{len(found.deployed_models)} model(s) deployed"
        return found.state.name if hasattr(found, "state") else "exists"

    def invoke(self, resource: Resource, body: bytes, content_type: str, accept: str) -> bytes:
        """Online prediction: JSON `{"instances": [...]}` or CSV rows -> `{"predictions": ...}`."""
        request = aip.PredictRequest(endpoint=resource.provider_id)
        # (proto-plus cannot take a list of struct Values in the constructor; extend works)
        request.instances.extend(
            json_format.ParseDict(i, struct_pb2.Value()) for i in _instances(body, content_type)
        )
        response = self._api("prediction", "predict", request=request)
        payload = {
            "predictions": [_plain(p) for p in response.predictions],
            "deployed_model_id": response.deployed_model_id,
        }
        return json.dumps(payload).encode()

    # --- plumbing -------------------------------------------------------------------------------

    def _model_for(self, ctx: Context, step_name: str, ref: str) -> str:
        """The Vertex model of train/tune step `ref`: AutoML's own, one made by an earlier
        deploy of this run, or a new upload with the prebuilt prediction container."""
        source = ctx.result(step_name, ref)
        if source.get("model"):
            return str(source["model"])
        for result in ctx.results.values():
            made = result.get("models") if isinstance(result, dict) else None
            if isinstance(made, dict) and ref in made:
                return str(made[ref])
        train = ctx.lab.train_of(ref)
        framework = SERVED_AS.get(train.entry_point or "")
        if framework is None:
            raise Unsupported(f"step '{step_name}': {_unservable(ctx.lab, ref)}")
        name = vertex_name(f"{step_name}-{ref}", ctx.run.id)
        model = aip.Model(
            display_name=name,
            artifact_uri=source["model_artifact"],
            container_spec=aip.ModelContainerSpec(
                image_uri=PREDICTION_IMAGES[framework].format(registry=self.registry)
            ),
            labels=_labels(ctx),
        )
        res = self._add(
            ctx,
            "model",
            name,
            with_price=False,
            attrs={"step": step_name, "source": ref, "framework": framework},
        )
        with ctx.creating(res):
            op = self._api(
                "model",
                "upload_model",
                step=step_name,
                request=aip.UploadModelRequest(parent=self.parent, model=model),
            )
            uploaded = self._result(op, f"uploading model {name}", step_name)
        ctx.ledger.update_resource(res.id, status="created", provider_id=uploaded.model)
        return str(uploaded.model)

    def _client(self, service: str) -> Any:
        """A GAPIC client of the region's Vertex AI endpoint (made once, ADC credentials)."""
        if service not in self._clients:
            classes = {
                "job": aip.JobServiceClient,
                "model": aip.ModelServiceClient,
                "endpoint": aip.EndpointServiceClient,
                "pipeline": aip.PipelineServiceClient,
                "dataset": aip.DatasetServiceClient,
                "prediction": aip.PredictionServiceClient,
            }
            credentials, _ = self._adc()
            self._clients[service] = classes[service](
                credentials=credentials,
                client_options={"api_endpoint": f"{self.region}-aiplatform.googleapis.com"},
            )
        return self._clients[service]

    def _bq(self) -> Any:
        if "bigquery" not in self._clients:
            from google.cloud import bigquery

            credentials, _ = self._adc()
            self._clients["bigquery"] = bigquery.Client(
                project=self.project, credentials=credentials, location=self.region
            )
        return self._clients["bigquery"]

    def _storage(self) -> Any:
        if "storage" not in self._clients:
            from google.cloud import storage

            credentials, _ = self._adc()
            self._clients["storage"] = storage.Client(project=self.project, credentials=credentials)
        return self._clients["storage"]

    def _api(
        self,
        service: str,
        method: str,
        *,
        step: str | None = None,
        gone_ok: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Call one GAPIC method; the one place Google errors become BackendErrors.

        Returns None for "not found" when `gone_ok` (teardown, status)."""
        client = self._client(service)
        try:
            return getattr(client, method)(**kwargs)
        except gexc.NotFound as exc:
            if gone_ok:
                return None
            raise _error(exc, method, step) from None
        except (gexc.GoogleAPIError, auth_exc.GoogleAuthError) as exc:
            raise _error(exc, method, step) from None

    def _result(
        self,
        op: Any,
        what: str,
        step: str | None,
        *,
        gone_ok: bool = False,
        timeout: float = OPERATION_TIMEOUT,
    ) -> Any:
        """Wait for a long-running operation's result."""
        try:
            return op.result(timeout=timeout)
        except gexc.NotFound as exc:
            if gone_ok:
                return None
            raise _error(exc, what, step) from None
        except (gexc.GoogleAPIError, auth_exc.GoogleAuthError) as exc:
            raise _error(exc, what, step) from None
        except TimeoutError:
            raise BackendError(
                f"{what} did not finish in {timeout / 60:.0f} minutes",
                hint="it may still finish on Google Cloud; `labctl status`",
            ) from None

    def _wait(
        self,
        what: str,
        get: Callable[[], Any],
        *,
        done: tuple[str, ...],
        timeout: float,
        task: Any = None,
    ) -> Any:
        """Poll `get` until its state is in `done`; BackendError after `timeout` seconds."""
        deadline = self._clock() + timeout
        shown = None
        while True:
            found = get()
            state = found.state.name
            if task is not None and state != shown:
                task.advance(0, description=f"{what}: {state.split('_STATE_')[-1].lower()}")
            shown = state
            if state in done:
                return found
            if self._clock() >= deadline:
                raise BackendError(
                    f"{what} is still {state} after {timeout / 60:.0f} minutes",
                    hint="it keeps running (and billing) on Google Cloud: `labctl down` cancels it",
                )
            self._sleep(self.poll_seconds)

    def _bq_job(
        self, ctx: Context, step: ServiceStep, kind: str, submit: Callable[[], Any], detail: str
    ) -> dict[str, Any]:
        """Run one BigQuery job (ledger row first; billed per byte, so no hourly price)."""
        res = self._add(
            ctx,
            "service",
            f"{step.name}-{kind}-{detail}"[:200],
            with_price=False,
            attrs={"step": step.name, "service": step.service, "job": kind},
        )
        with ctx.creating(res), ctx.reporter.task(f"{step.name}: {detail}"):
            try:
                job = submit()
                job.result(timeout=OPERATION_TIMEOUT)
            except (gexc.GoogleAPIError, auth_exc.GoogleAuthError) as exc:
                raise _error(exc, f"BigQuery {kind} job ({detail})", step.name) from None
        billed = getattr(job, "total_bytes_billed", None)
        ctx.ledger.update_resource(res.id, provider_id=job.job_id, attrs={"bytes_billed": billed})
        ctx.ledger.close_resource(res.id, status="DONE")
        return {"job_id": job.job_id, "what": detail, "bytes_billed": billed}

    def _upload_many(self, step_name: str, bucket: str, files: list[tuple[Path, str]]) -> None:
        try:
            target = self._storage().bucket(bucket)
            for path, key in files:
                target.blob(key).upload_from_filename(str(path))
        except (gexc.GoogleAPIError, auth_exc.GoogleAuthError) as exc:
            raise _error(exc, f"uploading to gs://{bucket}", step_name) from None

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


# --- request building blocks (pure functions, tested on their protobuf output) ---------------


def machine_spec(instance_type: str) -> aip.MachineSpec:
    """`n1-standard-8` or `n1-standard-8+NVIDIA_TESLA_T4x1` -> MachineSpec."""
    machine, *accelerators = instance_type.split("+")
    spec = aip.MachineSpec(machine_type=machine)
    if accelerators:
        match = re.fullmatch(r"([A-Z0-9_]+?)(?:x(\d+))?", accelerators[0].strip())
        if not match:
            raise UsageError(
                f"gcp: cannot read accelerator '{accelerators[0]}' "
                "(expected e.g. NVIDIA_TESLA_T4x1)"
            )
        spec.accelerator_type = match.group(1)
        spec.accelerator_count = int(match.group(2) or 1)
    return spec


def study_spec(step: TuneStep) -> aip.StudySpec:
    """The TuneStep as a Vertex AI Vizier StudySpec (metric tag, parameter specs, algorithm)."""
    P = aip.StudySpec.ParameterSpec
    params = []
    for key, rng in step.ranges.items():
        if isinstance(rng, CategoricalRange):
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in rng.values):
                params.append(
                    P(
                        parameter_id=key,
                        discrete_value_spec=P.DiscreteValueSpec(
                            values=sorted(float(v) for v in rng.values)
                        ),
                    )
                )
            else:
                params.append(
                    P(
                        parameter_id=key,
                        categorical_value_spec=P.CategoricalValueSpec(
                            values=[hp_string(v) for v in rng.values]
                        ),
                    )
                )
        elif isinstance(rng, ContinuousRange):
            params.append(
                P(
                    parameter_id=key,
                    scale_type=SCALE[rng.scaling],
                    double_value_spec=P.DoubleValueSpec(min_value=rng.min, max_value=rng.max),
                )
            )
        else:
            params.append(
                P(
                    parameter_id=key,
                    scale_type=SCALE[rng.scaling],
                    integer_value_spec=P.IntegerValueSpec(min_value=rng.min, max_value=rng.max),
                )
            )
    spec = aip.StudySpec(
        metrics=[
            aip.StudySpec.MetricSpec(
                metric_id=metric_tag(step.objective.name),
                goal="MAXIMIZE" if step.objective.goal == "maximize" else "MINIMIZE",
            )
        ],
        parameters=params,
        algorithm=ALGORITHMS[step.strategy],
    )
    if step.early_stopping or step.strategy == "hyperband":
        spec.median_automated_stopping_spec = aip.StudySpec.MedianAutomatedStoppingSpec()
    return spec


def traffic_percentages(weights: list[float]) -> list[int]:
    """Variant weights as whole percentages adding up to 100 (largest remainder)."""
    total = sum(weights)
    if total <= 0:
        return [100] + [0] * (len(weights) - 1)
    exact = [100 * w / total for w in weights]
    out = [math.floor(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: exact[i] - out[i], reverse=True)[
        : 100 - sum(out)
    ]:
        out[i] += 1
    return out


def metric_tag(name: str) -> str:
    """A metric name as a Vizier metric id (`validation:rmse` -> `validation_rmse`)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def vertex_name(base: str, run_id: str, limit: int = 128) -> str:
    """`<base>-<run>` within Vertex display-name limits (long bases keep a short hash)."""
    tail = f"-{run_id}"
    name = re.sub(r"[^a-zA-Z0-9_-]+", "-", base).strip("-") or "x"
    if len(name) + len(tail) > limit:
        digest = hashlib.sha256(base.encode()).hexdigest()[:5]
        name = name[: limit - len(tail) - 6].rstrip("-") + "-" + digest
    return name + tail


def build_package() -> tuple[bytes, str]:
    """A pip-installable sdist of labctl's entry points and the Vertex launcher, and its hash."""
    root = Path(__file__).resolve().parents[1]
    files = {
        f"labctl/entrypoints/{p.name}": p.read_bytes()
        for p in sorted((root / "entrypoints").glob("*.py"))
    }
    files["labctl/backends/gcp_launcher.py"] = (root / "backends" / "gcp_launcher.py").read_bytes()
    files["labctl/backends/__init__.py"] = b""
    files["labctl/__init__.py"] = b'"""labctl entry points, packaged for Vertex AI training."""\n'
    digest = hashlib.sha256(
        b"".join(k.encode() + v for k, v in sorted(files.items()))
        + json.dumps(PACKAGE_REQUIRES).encode()
    ).hexdigest()[:12]
    setup = (
        "from setuptools import setup\n"
        f"setup(name='labctl-trainer', version='0.1.0+{digest}',\n"
        "      packages=['labctl', 'labctl.entrypoints', 'labctl.backends'],\n"
        f"      install_requires={PACKAGE_REQUIRES!r})\n"
    )
    files["setup.py"] = setup.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(f"labctl-trainer-0.1.0/{path}")
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue(), digest


def _error(exc: Exception, what: str, step: str | None) -> BackendError:
    """A Google API or auth error as a BackendError with a hint for what to do."""
    where = f"step '{step}': " if step else ""
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, auth_exc.GoogleAuthError | gexc.Unauthenticated):
        return BackendError(
            f"{where}{what}: no usable Google credentials ({message})", hint=CREDENTIALS_HINT
        )
    if isinstance(exc, gexc.PermissionDenied):
        return BackendError(
            f"{where}{what}: permission denied: {message}",
            hint="your ADC identity needs roles/aiplatform.user (and storage/BigQuery access) on "
            "the project, and roles/iam.serviceAccountUser on the lab's service account; "
            "check the API is enabled (`labctl doctor`)",
        )
    if isinstance(exc, gexc.ResourceExhausted):
        return BackendError(
            f"{where}{what}: quota exhausted: {message}",
            hint="request quota in IAM & Admin > Quotas, or use a smaller "
            "machine type or another region",
        )
    if isinstance(exc, gexc.InvalidArgument | gexc.FailedPrecondition):
        return BackendError(
            f"{where}{what}: rejected by Google Cloud: {message}",
            hint="check the lab's step settings (machine type, region)",
        )
    if isinstance(exc, gexc.NotFound):
        return BackendError(
            f"{where}{what}: not found: {message}", hint="`labctl status` shows what labctl created"
        )
    return BackendError(
        f"{where}{what} failed: {message}",
        hint="check the network and the region, then `labctl doctor`",
    )


def _labels(ctx: Context) -> dict[str, str]:
    return naming.tags(ctx.run.engineer, ctx.lab_name, ctx.run.id)


def _fuse(uri: str) -> str:
    return "/gcs/" + uri.removeprefix("gs://")


def _data_step_result(ctx: Context, step_name: str) -> dict[str, Any]:
    for s in ctx.lab.steps:
        if isinstance(s, DataStep) and s.name in ctx.results:
            return ctx.results[s.name]
    raise BackendError(f"step '{step_name}' needs the lab's data step to have run first")


def _seconds(start: Any, end: Any) -> float | None:
    if not start or not end:
        return None
    seconds = (end - start).total_seconds()
    return seconds if seconds > 0 else None


def _plain(value: Any) -> Any:
    """proto-plus / protobuf values as plain JSON-able Python."""
    if hasattr(value, "DESCRIPTOR"):
        return json_format.MessageToDict(value)
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or (
        hasattr(value, "__iter__") and not isinstance(value, str | bytes)
    ):
        return [_plain(v) for v in value]
    return value


def _instances(body: bytes, content_type: str) -> list[Any]:
    kind = content_type.split(";", 1)[0].strip().lower()
    try:
        if kind == "application/json":
            data = json.loads(body)
            items = data["instances"] if isinstance(data, dict) else data
        elif kind == "text/csv":
            items = [
                [float(x) if x.strip() else None for x in line.split(",")]
                for line in body.decode().splitlines()
                if line.strip()
            ]
        else:
            raise UsageError(f"gcp endpoints take application/json or text/csv, not {kind}")
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"cannot read the records to send: {exc}",
            hint='send {"instances": [...]} or CSV rows of features',
        ) from None
    if not isinstance(items, list) or not items:
        raise UsageError("no instances to send")
    return items


def _unservable(lab: Lab, ref: str) -> str | None:
    """Why train/tune step `ref`'s model cannot be served on Vertex AI, or None."""
    train = lab.train_of(ref)
    if train.algorithm == "automl-image" or SERVED_AS.get(train.entry_point or ""):
        return None
    return (
        f"the model of '{ref}' ({train.entry_point or train.algorithm}) has no artifact a "
        "prebuilt Vertex AI prediction container serves"
    )


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


# --- doctor ---------------------------------------------------------------------------------------


def doctor() -> list[tuple[str, bool, str]]:
    """`labctl doctor` lines for Google Cloud: ADC credentials, the project, the region."""
    lines: list[tuple[str, bool, str]] = []
    gcp = config.settings().gcp
    adc_project = None
    try:
        credentials, adc_project = google.auth.default(scopes=SCOPES)
        who = getattr(credentials, "service_account_email", None) or type(credentials).__name__
        lines.append(("credentials", True, f"Application Default Credentials ({who})"))
    except auth_exc.DefaultCredentialsError:
        lines.append(("credentials", False, f"none found: {CREDENTIALS_HINT}"))
    project = gcp.project or adc_project
    if project:
        source = "[gcp] project" if gcp.project else "the ADC project"
        lines.append(("project", True, f"{project} (from {source})"))
    else:
        lines.append(
            (
                "project",
                False,
                "not set: `[gcp] project` in the labctl config, or GOOGLE_CLOUD_PROJECT",
            )
        )
    known = gcp.region in REGIONS
    lines.append(
        (
            "region",
            known,
            gcp.region
            if known
            else f"{gcp.region}: not a Vertex AI region labctl knows ({', '.join(REGIONS)})",
        )
    )
    return lines
