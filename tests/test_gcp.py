"""The gcp target at the SDK request level, as google-cloud-aiplatform's own unit tests do it.

The GAPIC client methods (JobServiceClient.create_custom_job, get_custom_job...) are patched on
their classes; labctl builds the real `aiplatform_v1` request messages (protobuf types refuse
unknown fields), and the fakes below play Vertex AI's side: jobs go PENDING -> RUNNING ->
SUCCEEDED, endpoints keep their deployed models and refuse deletion while one is deployed.
google.auth.default returns anonymous credentials; Cloud Storage uploads and BigQuery jobs are
patched the same way. Terraform for gcp cannot init offline: the CLI tests swap the
orchestrator's Stack for one that returns the module's outputs, as the aws tests feed theirs.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import google.auth
import pytest
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import aiplatform_v1 as aip
from google.cloud import aiplatform_v1beta1 as beta
from google.cloud import bigquery, storage
from google.protobuf import struct_pb2

from labctl import catalog as catalog_mod
from labctl import config
from labctl.backends.base import Context
from labctl.backends.gcp import GcpBackend, doctor, study_spec, traffic_percentages
from labctl.backends.gcp import bigquery as gcp_bigquery
from labctl.catalog import TuneStep
from labctl.errors import BackendError, LabctlError, UsageError
from labctl.ledger import RESOURCE_KINDS, Ledger
from labctl.prices import PriceBook
from labctl.progress import Reporter

pytestmark = pytest.mark.gcp

REPO = Path(__file__).resolve().parents[1]
GCP_LABS = ("movie-recommender", "image-classification", "sales-forecasting")
ENGINEER = "ana@example.com"
PROJECT = "labctl-test-project"
PARENT = f"projects/{PROJECT}/locations/us-central1"
INFRA = {
    "bucket": "labctl-ana-lab-1a2b3c4d",
    "bucket_uri": "gs://labctl-ana-lab-1a2b3c4d",
    "service_account_email": f"labctl-ana-lab-1a2b3c4d@{PROJECT}.iam.gserviceaccount.com",
    "project": PROJECT,
    "region": "us-central1",
    "bigquery_dataset": "labctl_ana_lab",
    "pubsub_subscription": f"projects/{PROJECT}/subscriptions/labctl-ana-lab-events-dataflow",
}
TERRAFORM = Path("/usr/local/bin/terraform")


# --- fakes ----------------------------------------------------------------------------------------


class Op:
    """A finished long-running operation."""

    def __init__(self, value: Any = None, error: Exception | None = None) -> None:
        self.value, self.error = value, error

    def result(self, timeout: float | None = None) -> Any:
        if self.error:
            raise self.error
        return self.value


class FakeVertex:
    """Vertex AI's side of the GAPIC calls: what was asked, and what exists now."""

    STATES = ("JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED")

    def __init__(self) -> None:
        self.requests: dict[str, list[Any]] = {}
        self.jobs: dict[str, Any] = {}  # name -> message, as created
        self.polls: dict[str, int] = {}
        self.models: dict[str, aip.Model] = {}
        self.endpoints: dict[str, aip.Endpoint] = {}
        self.datasets: dict[str, aip.Dataset] = {}
        self.schedules: dict[str, Any] = {}
        self.monitors: dict[str, Any] = {}
        self.cancelled: list[str] = []
        self.ids = itertools.count(1000)
        self.final_state = "JOB_STATE_SUCCEEDED"
        self.trial_metric = {"1": 0.91, "2": 0.84, "3": 0.88}

    def record(self, method: str, request: Any) -> None:
        self.requests.setdefault(method, []).append(request)

    def name(self, kind: str) -> str:
        return f"{PARENT}/{kind}/{next(self.ids)}"

    def state(self, name: str, prefix: str = "JOB") -> Any:
        n = self.polls[name] = self.polls.get(name, -1) + 1
        states = [s.replace("JOB", prefix) for s in self.STATES]
        state = states[min(n, 2)]
        if state.endswith("SUCCEEDED"):
            state = self.final_state.replace("JOB", prefix)
        return state

    # JobService
    def create_custom_job(self, request: aip.CreateCustomJobRequest, **_: Any) -> aip.CustomJob:
        assert isinstance(request, aip.CreateCustomJobRequest) and request.parent == PARENT
        self.record("create_custom_job", request)
        job = aip.CustomJob(request.custom_job)
        job.name, job.state = self.name("customJobs"), "JOB_STATE_QUEUED"
        self.jobs[job.name] = job
        return job

    def get_custom_job(self, name: str, **_: Any) -> aip.CustomJob:
        job = aip.CustomJob(self.jobs[name])
        job.state = self.state(name)
        if job.state.name in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"):
            job.start_time = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
            job.end_time = datetime(2026, 11, 1, 10, 12, tzinfo=UTC)
        if job.state.name == "JOB_STATE_FAILED":
            job.error = {"code": 3, "message": "Replica workerpool0-0 exited with code 1"}
        return job

    def create_hyperparameter_tuning_job(self, request: Any, **_: Any) -> Any:
        self.record("create_hyperparameter_tuning_job", request)
        job = aip.HyperparameterTuningJob(request.hyperparameter_tuning_job)
        job.name = self.name("hyperparameterTuningJobs")
        self.jobs[job.name] = job
        return job

    def get_hyperparameter_tuning_job(self, name: str, **_: Any) -> Any:
        job = aip.HyperparameterTuningJob(self.jobs[name])
        job.state = self.state(name)
        if job.state.name == "JOB_STATE_SUCCEEDED":
            metric_id = job.study_spec.metrics[0].metric_id
            job.trials = [
                aip.Trial(
                    id=tid,
                    state="SUCCEEDED",
                    parameters=[{"parameter_id": "embedding_dim", "value": 16 * int(tid)}],
                    final_measurement={"metrics": [{"metric_id": metric_id, "value": v}]},
                )
                for tid, v in self.trial_metric.items()
            ]
            job.start_time = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
            job.end_time = datetime(2026, 11, 1, 11, 0, tzinfo=UTC)
        return job

    def create_batch_prediction_job(self, request: Any, **_: Any) -> Any:
        self.record("create_batch_prediction_job", request)
        job = aip.BatchPredictionJob(request.batch_prediction_job)
        job.name = self.name("batchPredictionJobs")
        self.jobs[job.name] = job
        return job

    def get_batch_prediction_job(self, name: str, **_: Any) -> Any:
        job = aip.BatchPredictionJob(self.jobs[name])
        job.state = self.state(name)
        if job.state.name == "JOB_STATE_SUCCEEDED":
            job.completion_stats = {"successful_count": 480}
            job.output_info = {
                "gcs_output_directory": job.output_config.gcs_destination.output_uri_prefix
                + "prediction-1"
            }
        return job

    def cancel_custom_job(self, name: str, **_: Any) -> None:
        self.cancelled.append(name)

    cancel_hyperparameter_tuning_job = cancel_custom_job
    cancel_batch_prediction_job = cancel_custom_job
    cancel_training_pipeline = cancel_custom_job

    # PipelineService (AutoML)
    def create_training_pipeline(self, request: Any, **_: Any) -> Any:
        self.record("create_training_pipeline", request)
        pipe = aip.TrainingPipeline(request.training_pipeline)
        pipe.name = self.name("trainingPipelines")
        self.jobs[pipe.name] = pipe
        return pipe

    def get_training_pipeline(self, name: str, **_: Any) -> Any:
        pipe = aip.TrainingPipeline(self.jobs[name])
        pipe.state = self.state(name, "PIPELINE")
        if pipe.state.name == "PIPELINE_STATE_SUCCEEDED":
            model = self.models.get(name) or aip.Model(pipe.model_to_upload)
            model.name = model.name or self.name("models")
            self.models[model.name] = self.models[name] = model
            pipe.model_to_upload = model
            pipe.training_task_metadata = {"costMilliNodeHours": "8000"}
        return pipe

    # PipelineService (Vertex AI Pipelines) and ScheduleService
    def create_pipeline_job(self, request: Any, **_: Any) -> Any:
        self.record("create_pipeline_job", request)
        job = aip.PipelineJob(request.pipeline_job)
        job.name = f"{PARENT}/pipelineJobs/{request.pipeline_job_id}"
        job.state = "PIPELINE_STATE_RUNNING"
        self.jobs[job.name] = job
        return job

    def get_pipeline_job(self, name: str, **_: Any) -> Any:
        if name not in self.jobs:
            raise gexc.NotFound(name)
        job = aip.PipelineJob(self.jobs[name])
        if name in self.cancelled:
            job.state = "PIPELINE_STATE_CANCELLED"
        return job

    cancel_pipeline_job = cancel_custom_job

    def create_schedule(self, request: Any, **_: Any) -> Any:
        self.record("create_schedule", request)
        schedule = type(request.schedule)(request.schedule)  # v1 (pipelines) or v1beta1
        schedule.name, schedule.state = self.name("schedules"), "ACTIVE"
        self.schedules[schedule.name] = schedule
        return schedule

    def get_schedule(self, name: str, **_: Any) -> Any:
        if name not in self.schedules:
            raise gexc.NotFound(name)
        return self.schedules[name]

    def delete_schedule(self, name: str | None = None, request: Any = None, **_: Any) -> Op:
        name = name or request.name
        if name not in self.schedules:
            raise gexc.NotFound(name)
        del self.schedules[name]
        return Op()

    # ModelMonitoringService (v1beta1: Model Monitoring v2)
    def create_model_monitor(self, request: Any, **_: Any) -> Op:
        self.record("create_model_monitor", request)
        monitor = type(request.model_monitor)(request.model_monitor)
        monitor.name = f"{PARENT}/modelMonitors/{request.model_monitor_id}"
        self.monitors[monitor.name] = monitor
        return Op(monitor)

    def delete_model_monitor(self, request: Any, **_: Any) -> Op:
        if request.name not in self.monitors:
            raise gexc.NotFound(request.name)
        assert request.force  # its scheduled jobs go with it
        del self.monitors[request.name]
        return Op()

    # DatasetService
    def create_dataset(self, request: Any, **_: Any) -> Op:
        self.record("create_dataset", request)
        ds = aip.Dataset(request.dataset)
        ds.name = self.name("datasets")
        self.datasets[ds.name] = ds
        return Op(ds)

    def import_data(self, request: Any, **_: Any) -> Op:
        self.record("import_data", request)
        assert request.name in self.datasets
        return Op(aip.ImportDataResponse())

    def delete_dataset(self, name: str, **_: Any) -> Op:
        if name not in self.datasets:
            raise gexc.NotFound(name)
        del self.datasets[name]
        return Op()

    # ModelService
    def upload_model(self, request: aip.UploadModelRequest, **_: Any) -> Op:
        self.record("upload_model", request)
        model = aip.Model(request.model)
        model.name = self.name("models")
        self.models[model.name] = model
        return Op(aip.UploadModelResponse(model=model.name))

    def get_model(self, name: str, **_: Any) -> aip.Model:
        if name not in self.models:
            raise gexc.NotFound(name)
        return self.models[name]

    def delete_model(self, name: str, **_: Any) -> Op:
        if name not in self.models:
            raise gexc.NotFound(name)
        if any(d.model == name for e in self.endpoints.values() for d in e.deployed_models):
            raise gexc.FailedPrecondition(f"{name} is deployed")
        self.models = {k: v for k, v in self.models.items() if v.name != name}
        return Op()

    # EndpointService
    def create_endpoint(self, request: aip.CreateEndpointRequest, **_: Any) -> Op:
        self.record("create_endpoint", request)
        ep = aip.Endpoint(request.endpoint)
        ep.name = self.name("endpoints")
        self.endpoints[ep.name] = ep
        return Op(ep)

    def deploy_model(self, request: aip.DeployModelRequest, **_: Any) -> Op:
        self.record("deploy_model", request)
        ep = self.endpoints[request.endpoint]
        assert request.deployed_model.model in self.models
        assert sum(request.traffic_split.values()) == 100
        deployed = aip.DeployedModel(request.deployed_model)
        deployed.id = str(next(self.ids))
        ep.deployed_models.append(deployed)
        ep.traffic_split = {
            (deployed.id if k == "0" else k): v for k, v in request.traffic_split.items()
        }
        return Op(aip.DeployModelResponse(deployed_model=deployed))

    def update_endpoint(self, request: aip.UpdateEndpointRequest, **_: Any) -> aip.Endpoint:
        self.record("update_endpoint", request)
        ep = self.endpoints[request.endpoint.name]
        assert list(request.update_mask.paths) == ["traffic_split"]
        assert set(request.endpoint.traffic_split) == {d.id for d in ep.deployed_models}
        ep.traffic_split = dict(request.endpoint.traffic_split)
        return ep

    def get_endpoint(self, name: str, **_: Any) -> aip.Endpoint:
        if name not in self.endpoints:
            raise gexc.NotFound(name)
        return self.endpoints[name]

    def undeploy_model(self, request: aip.UndeployModelRequest, **_: Any) -> Op:
        self.record("undeploy_model", request)
        ep = self.endpoints[request.endpoint]
        split = dict(request.traffic_split) or dict(ep.traffic_split)
        if split.get(request.deployed_model_id, 0) and len(ep.deployed_models) > 1:
            raise gexc.FailedPrecondition("the deployed model still has traffic")
        keep = [d for d in ep.deployed_models if d.id != request.deployed_model_id]
        del ep.deployed_models[:]
        ep.deployed_models.extend(keep)
        ep.traffic_split = {k: v for k, v in split.items() if k != request.deployed_model_id}
        return Op()

    def delete_endpoint(self, name: str, **_: Any) -> Op:
        if name not in self.endpoints:
            raise gexc.NotFound(name)
        if self.endpoints[name].deployed_models:
            raise gexc.FailedPrecondition("the endpoint still has deployed models")
        del self.endpoints[name]
        return Op()

    # PredictionService
    def predict(self, request: aip.PredictRequest, **_: Any) -> aip.PredictResponse:
        self.record("predict", request)
        response = aip.PredictResponse(deployed_model_id="1001")
        response.predictions.extend(struct_pb2.Value(number_value=3.5) for _ in request.instances)
        return response


class FakeCloud:
    """Cloud Storage and BigQuery: uploads and jobs recorded."""

    def __init__(self) -> None:
        self.uploads: dict[str, int] = {}
        self.queries: list[tuple[str, bigquery.QueryJobConfig]] = []
        self.loads: list[tuple[str, str, bigquery.LoadJobConfig]] = []


class FakeJob:
    def __init__(self, job_id: str) -> None:
        self.job_id, self.total_bytes_billed = job_id, 10_485_760

    def result(self, timeout: float | None = None) -> FakeJob:
        return self


SERVICES = {
    aip.JobServiceClient: (
        "create_custom_job",
        "get_custom_job",
        "cancel_custom_job",
        "create_hyperparameter_tuning_job",
        "get_hyperparameter_tuning_job",
        "cancel_hyperparameter_tuning_job",
        "create_batch_prediction_job",
        "get_batch_prediction_job",
        "cancel_batch_prediction_job",
    ),
    aip.PipelineServiceClient: (
        "create_training_pipeline",
        "get_training_pipeline",
        "cancel_training_pipeline",
        "create_pipeline_job",
        "get_pipeline_job",
        "cancel_pipeline_job",
    ),
    aip.ScheduleServiceClient: ("create_schedule", "get_schedule", "delete_schedule"),
    beta.ScheduleServiceClient: ("create_schedule", "delete_schedule"),
    beta.ModelMonitoringServiceClient: ("create_model_monitor", "delete_model_monitor"),
    aip.DatasetServiceClient: ("create_dataset", "import_data", "delete_dataset"),
    aip.ModelServiceClient: ("upload_model", "get_model", "delete_model"),
    aip.EndpointServiceClient: (
        "create_endpoint",
        "deploy_model",
        "update_endpoint",
        "get_endpoint",
        "undeploy_model",
        "delete_endpoint",
    ),
    aip.PredictionServiceClient: ("predict",),
}


@pytest.fixture
def adc(monkeypatch, home):
    """google.auth.default -> anonymous credentials and the test project."""
    monkeypatch.setattr(
        google.auth, "default", lambda scopes=None, **_: (AnonymousCredentials(), PROJECT)
    )
    config.settings.cache_clear()


@pytest.fixture
def vertex(monkeypatch, adc):
    """The GAPIC client methods patched onto a FakeVertex (the clients are real)."""
    fake = FakeVertex()
    for cls, methods in SERVICES.items():
        for method in methods:
            monkeypatch.setattr(
                cls, method, lambda self, *a, _m=method, **kw: getattr(fake, _m)(*a, **kw)
            )
    return fake


@pytest.fixture
def cloud(monkeypatch, vertex):
    fake = FakeCloud()

    def upload(blob, filename, **_):
        fake.uploads[f"gs://{blob.bucket.name}/{blob.name}"] = Path(filename).stat().st_size

    def download(blob, **_):
        if blob.name.endswith("output/metrics.json"):
            return json.dumps({"validation:rmse": 0.87, "train:rmse": 0.8}).encode()
        if blob.name.endswith("/job.json"):  # what the Dataflow launcher job writes
            return json.dumps({"job_id": "2026-11-01_10_00_00-42"}).encode()
        raise gexc.NotFound(blob.name)

    def query(client, sql, job_config=None, **_):
        fake.queries.append((sql, job_config))
        return FakeJob(f"bq-query-{len(fake.queries)}")

    def load(client, uri, table, job_config=None, **_):
        fake.loads.append((uri, table, job_config))
        return FakeJob(f"bq-load-{len(fake.loads)}")

    class Stopped:  # the Dataflow REST API: the streaming job has stopped
        status_code, text = 200, ""

        @staticmethod
        def json() -> dict[str, str]:
            return {"currentState": "JOB_STATE_CANCELLED"}

    monkeypatch.setattr(AuthorizedSession, "request", lambda self, *a, **kw: Stopped())
    monkeypatch.setattr(storage.Blob, "upload_from_filename", upload)
    monkeypatch.setattr(storage.Blob, "download_as_bytes", download)
    monkeypatch.setattr(bigquery.Client, "query", query)
    monkeypatch.setattr(bigquery.Client, "load_table_from_uri", load)
    return fake


def no_sleep(seconds):
    pass


def make_ctx(tmp_path, lab_name, *, ledger=None, rows=400):
    cat = catalog_mod.load(REPO / "labs.yaml")
    ledger = ledger or Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    run = ledger.start_run(
        engineer=ENGINEER, lab=lab_name, target="gcp", workspace=str(tmp_path), region="us-central1"
    )
    return Context(
        ledger=ledger,
        run=run,
        lab_name=lab_name,
        lab=cat.lab(lab_name),
        workspace=tmp_path,
        infra=dict(INFRA),
        prices=PriceBook.load(),
        reporter=Reporter(),
        rows=rows,
        max_jobs=3,
    )


def labels_of(ctx) -> dict[str, str]:
    return {
        "labctl-engineer": "ana-example-com",
        "labctl-lab": ctx.lab_name,
        "labctl-run": ctx.run.id,
    }


# --- end to end per Google lab, at the request level ----------------------------------------------


@pytest.mark.parametrize("lab_name", GCP_LABS)
def test_lab_end_to_end_requests(tmp_path, vertex, cloud, lab_name):
    ctx = make_ctx(tmp_path, lab_name)
    backend = GcpBackend(sleep=no_sleep, poll_seconds=0)
    findings = backend.check(ctx.lab)
    assert not [f for f in findings if f.fatal], findings
    for step in ctx.lab.steps:
        ctx.record(step, backend.run_step(step, ctx))
    labels = labels_of(ctx)
    bucket = f"gs://{INFRA['bucket']}/"

    # Everything created carries the three labels.
    created = [r.custom_job for r in vertex.requests.get("create_custom_job", [])]
    created += [r.model for r in vertex.requests.get("upload_model", [])]
    created += [r.endpoint for r in vertex.requests.get("create_endpoint", [])]
    created += [
        r.batch_prediction_job for r in vertex.requests.get("create_batch_prediction_job", [])
    ]
    created += [r.training_pipeline for r in vertex.requests.get("create_training_pipeline", [])]
    created += [
        r.training_pipeline.model_to_upload
        for r in vertex.requests.get("create_training_pipeline", [])
    ]
    created += [r.dataset for r in vertex.requests.get("create_dataset", [])]
    assert created and all(dict(m.labels) == labels for m in created)
    for _, _, cfg in cloud.loads:
        assert cfg.labels == labels
    for _, cfg in cloud.queries:
        assert cfg.labels == labels

    # Custom jobs: the entry point in a prebuilt container, as the lab's service account
    # (the Dataflow launcher job, tested in test_gcp17_dataflow.py, aside).
    for request in vertex.requests.get("create_custom_job", []):
        if request.custom_job.display_name.endswith("-launch"):
            continue
        spec = request.custom_job.job_spec
        (pool,) = spec.worker_pool_specs
        assert pool.machine_spec.machine_type == "n1-standard-8" and pool.replica_count == 1
        pkg = pool.python_package_spec
        assert pkg.executor_image_uri.startswith("us-docker.pkg.dev/vertex-ai/training/")
        assert pkg.python_module == "labctl.backends.gcp.launcher"
        assert pkg.package_uris[0].startswith(f"{bucket}code/labctl-trainer-")
        assert pkg.package_uris[0] in cloud.uploads
        assert pkg.args[0].startswith("--entry-point=labctl.entrypoints.")
        env = {e.name: e.value for e in pkg.env}
        assert env["SM_CHANNEL_TRAIN"].startswith(f"/gcs/{INFRA['bucket']}/data/")
        assert spec.scheduling.strategy.name == "SPOT"
        assert spec.scheduling.timeout.seconds == 3600 or spec.scheduling.timeout.seconds == 7200
        assert spec.service_account == INFRA["service_account_email"]
        assert spec.base_output_directory.output_uri_prefix.startswith(f"{bucket}models/")

    # The ledger: a row per created resource, billable ones priced at launch.
    rows = ctx.ledger.run_resources(ctx.run.id)
    by_kind: dict[str, list] = {}
    for r in rows:
        by_kind.setdefault(r.kind, []).append(r)
    n_trainings = len(vertex.requests.get("create_custom_job", [])) + len(
        vertex.requests.get("create_training_pipeline", [])
    )
    assert len(by_kind["training-job"]) == n_trainings
    assert len(by_kind["endpoint"]) == 1 and len(vertex.endpoints) == 1
    for r in by_kind["training-job"] + by_kind["endpoint"] + by_kind.get("batch-job", []):
        assert r.provider_id.startswith(PARENT) and r.price_per_hour and r.price_source
        assert r.region == "us-central1"
    for r in by_kind["training-job"]:
        assert r.status.endswith("SUCCEEDED") and not r.is_open

    # Data capture: request-response logging into the lab's BigQuery dataset, at its rate.
    deploy = next(s for s in ctx.lab.steps if s.kind == "deploy")
    (create,) = vertex.requests["create_endpoint"]
    logging = create.endpoint.predict_request_response_logging_config
    if deploy.data_capture_percent:
        assert logging.enabled and logging.sampling_rate == deploy.data_capture_percent / 100
        assert (
            logging.bigquery_destination.output_uri == f"bq://{PROJECT}.{INFRA['bigquery_dataset']}"
        )
    else:
        assert not logging.enabled

    (endpoint,) = vertex.endpoints.values()
    result = ctx.results[next(s.name for s in ctx.lab.steps if s.kind == "deploy")]
    if lab_name == "movie-recommender":
        assert len(vertex.requests["create_custom_job"]) == 2
        dims = [
            next(
                a
                for a in r.custom_job.job_spec.worker_pool_specs[0].python_package_spec.args
                if a.startswith("--embedding_dim=")
            )
            for r in vertex.requests["create_custom_job"]
        ]
        assert dims == ["--embedding_dim=32", "--embedding_dim=64"]
        assert len(endpoint.deployed_models) == 2
        ids = {d.display_name: d.id for d in endpoint.deployed_models}
        assert dict(endpoint.traffic_split) == {ids["current"]: 90, ids["challenger"]: 10}
        for d in endpoint.deployed_models:
            assert d.dedicated_resources.machine_spec.machine_type == "n1-standard-4"
            assert d.dedicated_resources.min_replica_count == 1
        for r in vertex.requests["upload_model"]:
            assert r.model.container_spec.image_uri == (
                "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest"
            )
            assert r.model.artifact_uri.endswith("/model/")
        assert {t for _, t, _ in cloud.loads} == {
            f"{PROJECT}.{INFRA['bigquery_dataset']}.{t}" for t in ("ratings", "movies", "users")
        }
        assert any("ML.STANDARD_SCALER(user_mean) OVER ()" in sql for sql, _ in cloud.queries)
        assert ctx.results["train-recommender"]["metrics"]["validation:rmse"] == 0.87
        assert ctx.results["model-monitoring"]["model_monitor"] in vertex.monitors
        assert result["traffic_split"] == {"current": 90, "challenger": 10}
    if lab_name == "image-classification":
        (pipeline,) = vertex.requests["create_training_pipeline"]
        tp = pipeline.training_pipeline
        assert tp.training_task_definition.endswith("automl_image_classification_1.0.0.yaml")
        inputs = type(tp).to_dict(tp)["training_task_inputs"]
        assert inputs == {
            "modelType": "CLOUD",
            "budgetMilliNodeHours": 8000.0,
            "disableEarlyStopping": False,
            "multiLabel": False,
        }
        (imported,) = vertex.requests["import_data"]
        csv_uri = imported.import_configs[0].gcs_source.uris[0]
        assert csv_uri in cloud.uploads and csv_uri.endswith("automl-import.csv")
        assert any(u.endswith(".png") for u in cloud.uploads)
        kinds = {d.display_name: d for d in endpoint.deployed_models}
        assert kinds["automl"].automatic_resources.min_replica_count == 1
        assert kinds["custom"].dedicated_resources.machine_spec.machine_type == "n1-standard-4"
        assert sorted(endpoint.traffic_split.values()) == [50, 50]
        (batch,) = vertex.requests["create_batch_prediction_job"]
        job = batch.batch_prediction_job
        assert job.input_config.instances_format == "jsonl"
        assert job.input_config.gcs_source.uris[0] == f"{bucket}data/dog-images/batch-input/*"
        assert any(u.startswith(f"{bucket}data/dog-images/batch-input/") for u in cloud.uploads)
        assert job.dedicated_resources.machine_spec.machine_type == "n1-standard-4"
        assert ctx.results["batch-predict"]["records"] == 480
        (pipe_row,) = [r for r in by_kind["training-job"] if r.instance_type == "automl"]
        assert pipe_row.billable_seconds == pytest.approx(8 * 3600)
    if lab_name == "sales-forecasting":
        train_load = next(c for _, t, c in cloud.loads if t.endswith(".train"))
        assert train_load.time_partitioning.field == "date"
        stores_load = next(c for _, t, c in cloud.loads if t.endswith(".stores"))
        assert stores_load.time_partitioning is None
        sqls = [sql for sql, _ in cloud.queries]
        assert any("LAG(t.sales, 28) OVER" in s and "LAST_DAY(t.date)" in s for s in sqls)
        assert any("model_type = 'ARIMA_PLUS'" in s and "holiday_region = 'EC'" in s for s in sqls)
        assert any("ML.FORECAST(" in s for s in sqls) and any("ML.EVALUATE(" in s for s in sqls)
        assert ctx.results["streaming-features"]["job_id"] == "2026-11-01_10_00_00-42"
        (deployed,) = endpoint.deployed_models
        assert dict(endpoint.traffic_split) == {deployed.id: 100}
        assert vertex.requests["upload_model"][0].model.container_spec.image_uri.endswith(
            "xgboost-cpu.2-1:latest"
        )

    # Teardown in the orchestrator's order, then again: nothing is left, twice.
    ledger = ctx.ledger
    planned = sorted(ledger.open_resources(ctx.run.id), key=lambda r: RESOURCE_KINDS.index(r.kind))
    for r in planned:
        backend.teardown(r, ledger)
        ledger.close_resource(r.id, status="deleted")
    assert not vertex.endpoints
    assert not vertex.models
    assert not vertex.datasets
    assert not vertex.schedules
    assert not vertex.monitors
    assert len(vertex.requests["undeploy_model"]) == len(vertex.requests["deploy_model"])
    for r in ledger.run_resources(ctx.run.id):
        backend.teardown(r, ledger)  # idempotent: already gone counts as deleted


# --- the CLI: up --target gcp, then down ----------------------------------------------------------


class FakeStack:
    """terraform for gcp cannot init offline: apply returns what the module outputs."""

    applied: ClassVar[list[Path]] = []
    destroyed: ClassVar[list[Path]] = []

    def __init__(self, directory: Path, *, offline_plugins: bool) -> None:
        self.directory = directory

    def init(self) -> None:
        pass

    def plan(self) -> list:
        return []

    def apply(self) -> dict[str, Any]:
        FakeStack.applied.append(self.directory)
        return dict(INFRA)

    def destroy(self, *, lock: bool = True) -> None:
        FakeStack.destroyed.append(self.directory)


@pytest.mark.parametrize("lab_name", GCP_LABS)
def test_cli_up_then_down(tmp_path, monkeypatch, vertex, cloud, lab_name):
    from typer.testing import CliRunner

    from labctl import orchestrator
    from labctl.cli import app

    monkeypatch.setattr(orchestrator, "Stack", FakeStack)
    monkeypatch.setattr("labctl.backends.gcp.client.POLL_SECONDS", 0)
    monkeypatch.setattr("labctl.backends.gcp.client.time.sleep", no_sleep)
    monkeypatch.setenv("LABCTL_CATALOG", str(REPO / "labs.yaml"))
    FakeStack.applied, FakeStack.destroyed = [], []
    runner = CliRunner()
    up = runner.invoke(
        app, ["up", lab_name, "--target", "gcp", "--rows", "400", "--autostop", "2h", "--json"]
    )
    assert up.exit_code == 0, (up.output, up.exception)
    out = json.loads(up.stdout)
    assert out["target"] == "gcp" and out["steps"]
    (tf_dir,) = FakeStack.applied
    root = json.loads((tf_dir / "main.tf.json").read_text())
    tags = root["provider"]["google"]["default_labels"]
    assert set(tags) == {"labctl-engineer", "labctl-lab", "labctl-run"}
    assert tags["labctl-lab"] == lab_name
    module = root["module"]["lab"]
    assert module["project"] == PROJECT and module["region"] == "us-central1"
    # a BigQuery dataset (and the job rights that come with it) only for labs that query
    assert module["bigquery_dataset"] is (lab_name != "image-classification")
    assert vertex.endpoints and vertex.models

    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0
    (run,) = json.loads(status.stdout)
    assert run["target"] == "gcp" and run["burn_usd_per_hour"] > 0

    down = runner.invoke(app, ["down", lab_name, "--yes"])
    assert down.exit_code == 0, (down.output, down.exception)
    assert FakeStack.destroyed == [tf_dir]
    assert not vertex.endpoints and not vertex.models and not vertex.datasets
    assert not [r for r in Ledger().active_runs() if r.lab == lab_name]


def test_plan_renders_module_and_estimates_cost(tmp_path, monkeypatch, adc):
    from typer.testing import CliRunner

    from labctl import orchestrator
    from labctl.cli import app

    monkeypatch.setattr(orchestrator, "Stack", FakeStack)
    monkeypatch.setenv("LABCTL_CATALOG", str(REPO / "labs.yaml"))
    # --autostop: without it the endpoint is priced until the month ends (the real clock), which
    # early in a month is over the budget: `plan` then exits 3
    result = CliRunner().invoke(
        app, ["plan", "movie-recommender", "--target", "gcp", "--autostop", "2h", "--json"]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    plan = json.loads(result.stdout)
    estimate = plan["estimate"]
    assert estimate["cloud"] == "gcp" and estimate["total_usd"] > 0 and not estimate["unpriced"]
    steps = {s["step"]: s for s in estimate["steps"]}
    assert steps["train-recommender"]["usd_per_hour"] == pytest.approx(0.437)
    root = json.loads((Path(plan["module"]) / "main.tf.json").read_text())
    assert root["terraform"]["required_providers"]["google"]["source"] == "hashicorp/google"
    assert root["provider"]["google"]["region"] == "us-central1"
    assert (Path(plan["module"]) / "modules" / "gcp" / "main.tf").is_file()
    fatal = [f for f in plan["findings"] if f["fatal"]]
    assert not fatal


# --- request building blocks ----------------------------------------------------------------------


def tune_step(**update: Any) -> TuneStep:
    base = {
        "name": "tune-recommender",
        "kind": "tune",
        "train": "train-recommender",
        "strategy": "bayesian",
        "objective": {"name": "validation:rmse", "goal": "minimize"},
        "max_jobs": 6,
        "max_parallel_jobs": 2,
        "early_stopping": True,
        "ranges": {
            "embedding_dim": {"type": "integer", "min": 16, "max": 128, "scaling": "logarithmic"},
            "learning_rate": {
                "type": "continuous",
                "min": 0.0001,
                "max": 0.1,
                "scaling": "logarithmic",
            },
            "batch_size": {"type": "categorical", "values": [1024, 4096]},
            "model": {"type": "categorical", "values": ["matrix-factorization"]},
        },
    }
    return TuneStep.model_validate({**base, **update})


def test_tuning_job_request_and_best_trial(tmp_path, vertex, cloud):
    ctx = make_ctx(tmp_path, "movie-recommender")
    backend = GcpBackend(sleep=no_sleep, poll_seconds=0)
    steps = {s.name: s for s in ctx.lab.steps}
    ctx.record(steps["movielens-data"], backend.run_step(steps["movielens-data"], ctx))
    result = backend.run_step(tune_step(), ctx)
    (request,) = vertex.requests["create_hyperparameter_tuning_job"]
    job = request.hyperparameter_tuning_job
    assert request.parent == PARENT and dict(job.labels) == labels_of(ctx)
    assert job.max_trial_count == 3 and job.parallel_trial_count == 2  # ctx.max_jobs = 3
    spec = job.study_spec
    assert spec.metrics[0].metric_id == "validation_rmse"
    assert spec.metrics[0].goal.name == "MINIMIZE"
    assert spec.algorithm.name == "ALGORITHM_UNSPECIFIED"  # Vizier's Bayesian optimisation
    assert "median_automated_stopping_spec" in spec
    params = {p.parameter_id: p for p in spec.parameters}
    assert params["embedding_dim"].integer_value_spec.max_value == 128
    assert params["embedding_dim"].scale_type.name == "UNIT_LOG_SCALE"
    assert params["learning_rate"].double_value_spec.min_value == pytest.approx(0.0001)
    assert list(params["batch_size"].discrete_value_spec.values) == [1024.0, 4096.0]
    assert list(params["model"].categorical_value_spec.values) == ["matrix-factorization"]
    pkg = job.trial_job_spec.worker_pool_specs[0].python_package_spec
    assert not any(a.startswith(("--embedding_dim=", "--learning_rate=")) for a in pkg.args)
    assert "--epochs=10" in pkg.args
    env = {e.name: e.value for e in pkg.env}
    assert env["LABCTL_HPT_METRIC"] == "validation:rmse" and env["LABCTL_HPT_TAG"] == (
        "validation_rmse"
    )
    assert result["best_trial"] == "2" and result["metrics"] == {"validation:rmse": 0.84}
    assert result["model_artifact"].endswith(f"/models/{result['tuning_job']}/2/model/")
    (row,) = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "tuning-job"]
    assert row.price_per_hour == pytest.approx(0.437) and row.spot


def test_study_spec_strategies():
    assert study_spec(tune_step(strategy="random")).algorithm.name == "RANDOM_SEARCH"
    grid = tune_step(
        strategy="grid", ranges={"batch_size": {"type": "categorical", "values": [1024, 4096]}}
    )
    assert study_spec(grid).algorithm.name == "GRID_SEARCH"
    assert "median_automated_stopping_spec" in study_spec(
        tune_step(strategy="hyperband", early_stopping=False)
    )
    assert traffic_percentages([0.9, 0.1]) == [90, 10]
    assert traffic_percentages([1, 1, 1]) == [34, 33, 33]
    assert sum(traffic_percentages([0.33, 0.33, 0.34, 0.0])) == 100


def test_training_waits_with_progress_then_times_out(tmp_path, vertex, cloud, monkeypatch):
    ctx = make_ctx(tmp_path, "sales-forecasting")
    steps = {s.name: s for s in ctx.lab.steps}
    clock = itertools.count(0, 600)
    backend = GcpBackend(sleep=no_sleep, clock=lambda: next(clock), poll_seconds=0)
    ctx.record(steps["store-sales-data"], backend.run_step(steps["store-sales-data"], ctx))
    monkeypatch.setattr(vertex, "STATES", ("JOB_STATE_PENDING",) + ("JOB_STATE_RUNNING",) * 2)
    vertex.final_state = "JOB_STATE_RUNNING"
    with pytest.raises(BackendError, match="still JOB_STATE_RUNNING") as err:
        backend.run_step(steps["train-forecaster"], ctx)
    assert "labctl down sales-forecasting" in err.value.hint
    (row,) = ctx.ledger.open_resources(ctx.run.id)
    assert row.kind == "training-job" and row.provider_id.startswith(f"{PARENT}/customJobs/")
    backend.teardown(row, ctx.ledger)
    assert vertex.cancelled == [row.provider_id]


def test_failed_job_names_the_step_and_reason(tmp_path, vertex, cloud):
    ctx = make_ctx(tmp_path, "sales-forecasting")
    steps = {s.name: s for s in ctx.lab.steps}
    backend = GcpBackend(sleep=no_sleep, poll_seconds=0)
    ctx.record(steps["store-sales-data"], backend.run_step(steps["store-sales-data"], ctx))
    vertex.final_state = "JOB_STATE_FAILED"
    with pytest.raises(BackendError, match=r"train-forecaster.*JOB_STATE_FAILED.*exited with code"):
        backend.run_step(steps["train-forecaster"], ctx)
    (row,) = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "training-job"]
    assert row.status == "JOB_STATE_FAILED" and not row.is_open


@pytest.mark.parametrize(
    ("error", "message", "hint"),
    [
        (
            gexc.PermissionDenied("aiplatform.customJobs.create denied"),
            "permission denied",
            "roles/aiplatform.user",
        ),
        (gexc.ResourceExhausted("custom_model_training_cpus"), "quota", "Quotas"),
        (
            gexc.InvalidArgument("machine type n1-standard-999 is not supported"),
            "rejected",
            "machine type",
        ),
        (auth_exc.RefreshError("token expired"), "credentials", "application-default login"),
    ],
)
def test_api_errors_become_backend_errors(
    tmp_path, vertex, cloud, monkeypatch, error, message, hint
):
    ctx = make_ctx(tmp_path, "sales-forecasting")
    steps = {s.name: s for s in ctx.lab.steps}
    backend = GcpBackend(sleep=no_sleep, poll_seconds=0)
    ctx.record(steps["store-sales-data"], backend.run_step(steps["store-sales-data"], ctx))

    def fail(*a, **kw):
        raise error

    monkeypatch.setattr(vertex, "create_custom_job", fail)
    with pytest.raises(BackendError, match=message) as err:
        backend.run_step(steps["train-forecaster"], ctx)
    assert "train-forecaster" in err.value.message and hint in err.value.hint
    (row,) = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "training-job"]
    assert row.status == "not-created" and not row.is_open


def test_no_credentials_is_a_clear_error(tmp_path, home, monkeypatch):
    def missing(**_):
        raise auth_exc.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", missing)
    backend = GcpBackend(project=PROJECT)
    with pytest.raises(BackendError, match="no Application Default Credentials") as err:
        backend._client("job")
    assert "gcloud auth application-default login" in err.value.hint
    lines = {name: (ok, detail) for name, ok, detail in doctor()}
    assert lines["credentials"][0] is False and "application-default" in lines["credentials"][1]
    assert lines["project"][0] is False


def test_doctor_reports_project_credentials_region(adc):
    lines = {name: (ok, detail) for name, ok, detail in doctor()}
    assert lines["credentials"] == (True, "Application Default Credentials (AnonymousCredentials)")
    assert lines["project"] == (True, f"{PROJECT} (from the ADC project)")
    assert lines["region"] == (True, "us-central1")


def test_unknown_region_is_a_clear_error(home, tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[gcp]\nproject = "p-123456"\nregion = "mars-central1"\n')
    monkeypatch.setenv("LABCTL_CONFIG", str(cfg))
    config.settings.cache_clear()
    with pytest.raises(UsageError, match="unknown Vertex AI region 'mars-central1'") as err:
        GcpBackend()
    assert "us-central1" in err.value.hint
    lines = {name: ok for name, ok, _ in doctor()}
    assert lines["region"] is False


def test_required_service_refused_optional_skipped(tmp_path, vertex, cloud):
    ctx = make_ctx(tmp_path, "sales-forecasting")
    backend = GcpBackend(sleep=no_sleep, poll_seconds=0)
    step = ctx.lab.step("streaming-features").model_copy(update={"service": "cloud-functions"})
    assert backend.run_step(step, ctx)["skipped"]
    required = step.model_copy(update={"optional": False})
    with pytest.raises(LabctlError, match="'cloud-functions'"):
        backend.run_step(required, ctx)
    lab = ctx.lab.model_copy(
        update={"steps": [step if s.name == step.name else s for s in ctx.lab.steps]}
    )
    findings = {f.step: f for f in backend.check(lab)}
    assert findings["streaming-features"].fatal is False
    unknown = ctx.lab.step("bqml-forecast").model_copy(update={"settings": {"model_type": "DNN"}})
    with pytest.raises(LabctlError, match="bqml-forecast"):
        gcp_bigquery.kind(unknown)


def test_bigquery_sql_is_checked_and_shaped(tmp_path):
    cat = catalog_mod.load(REPO / "labs.yaml")
    lab = cat.lab("sales-forecasting")
    labels = {"labctl-lab": "sales-forecasting"}
    ((sql, cfg),) = gcp_bigquery.statements(lab.step("time-series-features"), "p.d", labels)
    assert sql.startswith("CREATE OR REPLACE VIEW `p.d.features` AS")
    for d in (1, 7, 14, 28):
        assert f"LAG(t.sales, {d}) OVER (PARTITION BY t.store_nbr, t.family ORDER BY t.date)" in sql
    assert "ROWS BETWEEN 28 PRECEDING AND 1 PRECEDING) AS rolling_mean_28" in sql
    assert isinstance(cfg, bigquery.QueryJobConfig) and cfg.labels == labels
    model, evaluate, forecast = gcp_bigquery.statements(lab.step("bqml-forecast"), "p.d", labels)
    assert "time_series_id_col = 'store_family'" in model[0] and "horizon = 16" in model[0]
    assert "WHERE date <= DATE_SUB(" in model[0] and "WHERE date > DATE_SUB(" in evaluate[0]
    assert "STRUCT(16 AS horizon, 0.9 AS confidence_level)" in forecast[0]
    bad = lab.step("bqml-forecast").model_copy(
        update={"settings": {"model_type": "ARIMA_PLUS", "time_series_id_col": "x; DROP"}}
    )
    with pytest.raises(LabctlError, match="not a valid BigQuery identifier"):
        gcp_bigquery.statements(bad, "p.d", labels)


def test_invoke_sends_instances(tmp_path, vertex):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    run = ledger.start_run(
        engineer=ENGINEER, lab="movie-recommender", target="gcp", workspace=str(tmp_path)
    )
    res = ledger.add_resource(
        run, kind="endpoint", name="endpoint-x", provider_id=f"{PARENT}/endpoints/1"
    )
    backend = GcpBackend(sleep=no_sleep, poll_seconds=0)
    out = json.loads(backend.invoke(res, b"1,1\n2,5\n", "text/csv", "application/json"))
    assert out["predictions"] == [3.5, 3.5]
    (request,) = vertex.requests["predict"]
    assert request.endpoint == f"{PARENT}/endpoints/1"
    assert [list(i) for i in request.instances] == [[1.0, 1.0], [2.0, 5.0]]
    assert backend.live_status(res) == "gone"


# --- the Terraform module's structure -------------------------------------------------------------


def _tf(name: str) -> str:
    return (REPO / "terraform" / "modules" / "gcp" / name).read_text()


def test_module_structure():
    main = _tf("main.tf")
    resources = set(re.findall(r'^resource "([\w]+)" "([\w]+)"', main, flags=re.M))
    for expected in [
        ("google_storage_bucket", "lab"),
        ("google_service_account", "lab"),
        ("google_project_service", "apis"),
        ("google_storage_bucket_iam_member", "sa_object_admin"),
        ("google_project_iam_member", "sa"),
    ]:
        assert expected in resources
    bucket = re.search(r'resource "google_storage_bucket" "lab" \{(.*?)\n\}', main, re.S).group(1)
    assert re.search(r"uniform_bucket_level_access\s*=\s*true", bucket)
    assert re.search(r"versioning \{\s*enabled\s*=\s*true", bucket)
    assert "lifecycle_rule" in bucket and "labels" in bucket
    assert re.search(r'matches_prefix\s*=\s*\["tmp/", "scratch/", "checkpoints/"\]', bucket)
    assert "location = upper(var.region)" in bucket  # regional
    # the service account's project roles: Vertex AI jobs and logs, nothing storage-wide
    roles = re.search(r"project_roles = concat\((.*?)\n  \)", main, re.S).group(1)
    assert '"roles/aiplatform.user"' in roles and "storage" not in roles and "admin" not in roles
    assert '"roles/owner"' not in main and '"roles/editor"' not in main
    assert "google_billing_budget" not in main  # one per engineer: terraform/modules/gcp-budget
    outputs = set(re.findall(r'^output "(\w+)"', _tf("outputs.tf"), flags=re.M))
    assert {"bucket", "service_account_email", "project", "region", "bigquery_dataset"} <= outputs
    assert 'source = "hashicorp/google"' in _tf("versions.tf").replace("  ", " ")
    assert 'provider "google"' not in main  # the root module owns the provider (default_labels)


@pytest.mark.skipif(not (TERRAFORM.is_file() or shutil.which("terraform")), reason="no terraform")
def test_module_is_terraform_fmt_clean():
    binary = str(TERRAFORM if TERRAFORM.is_file() else shutil.which("terraform"))
    proc = subprocess.run(
        [binary, "fmt", "-check", "-recursive", str(REPO / "terraform" / "modules" / "gcp")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_catalog_prices_cover_the_google_labs():
    prices = PriceBook.load()
    for usage, itype in [
        ("training", "n1-standard-8"),
        ("prediction", "n1-standard-4"),
        ("training", "automl"),
        ("prediction", "automl"),
    ]:
        assert prices.lookup(cloud="gcp", usage=usage, instance_type=itype, region="us-central1")


# --- request fidelity (issue 12) ------------------------------------------------------------------


def _job_spec_of(tmp_path, **train_update: Any) -> aip.CustomJobSpec:
    """The CustomJobSpec of movie-recommender's first train step, changed by `train_update`."""
    ctx = make_ctx(tmp_path, "movie-recommender")
    train = ctx.lab.step("train-recommender").model_copy(update=train_update)
    ctx.results[train.data] = {"channels": {"train": f"gs://{INFRA['bucket']}/data/train/"}}
    backend = GcpBackend(sleep=no_sleep, poll_seconds=0)
    return backend._job_spec(train, ctx, output="gs://b/models/x/", hps={})


def test_on_demand_jobs_are_standard_and_spot_jobs_send_no_max_wait(tmp_path, vertex, cloud):
    """ON_DEMAND is deprecated (STANDARD); max_wait_duration is for FLEX_START only."""
    standard = _job_spec_of(tmp_path, spot=False).scheduling
    assert standard.strategy == aip.Scheduling.Strategy.STANDARD
    spot = _job_spec_of(tmp_path, spot=True, max_wait=7200).scheduling
    assert spot.strategy == aip.Scheduling.Strategy.SPOT
    assert not aip.Scheduling.pb(spot).HasField("max_wait_duration")
    assert spot.timeout.seconds > 0


def test_data_capture_makes_the_dataset_its_logs_go_to(tmp_path, adc):
    ctx = make_ctx(tmp_path, "movie-recommender")
    backend = GcpBackend()
    deploy = ctx.lab.step("endpoint")
    assert deploy.data_capture_percent == 100
    # request-response logging needs the lab's dataset: the module makes one even for a lab
    # without BigQuery steps, so nothing is left unlogged
    no_bq = ctx.lab.model_copy(update={"steps": [s for s in ctx.lab.steps if s.kind != "service"]})
    assert backend.module_inputs(tmp_path, no_bq)["bigquery_dataset"] is True
    assert not [f for f in backend.check(no_bq) if "not logged" in f.reason]
    no_capture = no_bq.model_copy(
        update={
            "steps": [
                s.model_copy(update={"data_capture_percent": 0}) if s.kind == "deploy" else s
                for s in no_bq.steps
                if s.kind != "monitor"
            ]
        }
    )
    assert backend.module_inputs(tmp_path, no_capture)["bigquery_dataset"] is False
    ctx.infra["bigquery_dataset"] = None
    assert backend._request_logging(deploy, ctx) is None
    ctx.infra["bigquery_dataset"] = "labctl_ana_lab"
    sampled = backend._request_logging(deploy.model_copy(update={"data_capture_percent": 25}), ctx)
    assert sampled.sampling_rate == 0.25 and sampled.enabled
    assert (
        backend._request_logging(deploy.model_copy(update={"data_capture_percent": 0}), ctx) is None
    )


def test_check_says_when_no_project_is_configured(tmp_path, home, monkeypatch):
    monkeypatch.setattr(
        google.auth, "default", lambda scopes=None, **_: (AnonymousCredentials(), None)
    )
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    config.settings.cache_clear()
    lab = catalog_mod.load(REPO / "labs.yaml").lab("image-classification")
    findings = GcpBackend().check(lab)
    (finding,) = [f for f in findings if "no Google Cloud project" in f.reason]
    assert finding.fatal and "[gcp] project" in finding.reason
    assert not [f for f in GcpBackend(project=PROJECT).check(lab) if "project" in f.reason]


def test_check_names_missing_credentials_not_a_missing_project(tmp_path, home, monkeypatch):
    """GOOGLE_CLOUD_PROJECT set, no ADC: the finding is about credentials (it said "no project")."""
    from google.auth import exceptions as auth_exc

    def no_adc(scopes=None, **_):
        raise auth_exc.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_adc)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    config.settings.cache_clear()
    lab = catalog_mod.load(REPO / "labs.yaml").lab("image-classification")
    backend = GcpBackend()
    reasons = [f.reason for f in backend.check(lab) if not f.step]
    assert not [r for r in reasons if "no Google Cloud project" in r]
    (adc,) = [r for r in reasons if "no Application Default Credentials" in r]
    assert "gcloud auth application-default login" in adc
    assert backend.module_inputs(tmp_path, lab)["project"] == "my-project"  # as the module's
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    config.settings.cache_clear()
    reasons = [f.reason for f in GcpBackend().check(lab) if not f.step]
    assert len(reasons) == 2 and "no Google Cloud project" in reasons[1]  # both said


def test_packaged_launcher_runs_by_its_dotted_path(tmp_path):
    """What Vertex AI runs, from the uploaded sdist alone: `python -m labctl.backends.gcp.launcher`
    (its package markers are empty, so no Google SDK is needed in the container)."""
    import io
    import sys
    import tarfile

    from labctl.backends.gcp.package import LAUNCHER_MODULE, build_package

    data, _ = build_package()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(tmp_path, filter="data")
    (root,) = tmp_path.iterdir()
    assert (root / "labctl" / "backends" / "gcp" / "__init__.py").read_bytes() == b""
    assert "'labctl.backends.gcp'" in (root / "setup.py").read_text()
    done = subprocess.run(
        [sys.executable, "-m", LAUNCHER_MODULE, "--embedding_dim=32"],
        cwd=root, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60,
    )  # fmt: skip
    assert LAUNCHER_MODULE == "labctl.backends.gcp.launcher"
    assert done.returncode == 1 and "--entry-point=<module> is required" in done.stderr
