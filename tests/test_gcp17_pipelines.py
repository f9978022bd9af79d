"""Vertex AI Pipelines: the PipelineSpec labctl compiles from a lab's steps, the PipelineJob and
PipelineJobSchedule requests (GAPIC patched as in test_gcp.py), teardown, and the local run."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
from google.cloud import aiplatform_v1 as aip
from google.protobuf import json_format
from test_gcp import INFRA, PARENT, REPO, adc, cloud, labels_of, make_ctx, no_sleep, vertex  # noqa: F401

from labctl import catalog as catalog_mod
from labctl.backends.gcp import GcpBackend
from labctl.backends.gcp.pipelines import deadline, task_plan
from labctl.errors import UsageError
from labctl.ledger import RESOURCE_KINDS
from labctl.pipelines import vertex_task
from labctl.pipelines.vertex import JOB_UUID, SCHEMA_VERSION, TASK_IMAGE, run_order

INFRA_DF = {
    **INFRA,
    "pubsub_subscription": "projects/labctl-test-project/subscriptions/labctl-ana-lab-events",
}


def up_until_pipeline(tmp_path, lab_name: str):
    """Run the lab's steps on the fakes up to (not including) its pipeline step."""
    ctx = make_ctx(tmp_path, lab_name)
    ctx.infra.update(INFRA_DF)
    backend = GcpBackend(sleep=no_sleep, poll_seconds=0)
    for step in ctx.lab.steps:
        if step.kind == "pipeline":
            return ctx, backend, step
        ctx.record(step, backend.run_step(step, ctx))
    raise AssertionError("no pipeline step")


def test_sales_forecasting_pipeline_spec_and_requests(tmp_path, vertex, cloud):  # noqa: F811
    ctx, backend, step = up_until_pipeline(tmp_path, "sales-forecasting")
    ctx.run = ctx.ledger.update_run(ctx.run.id, autostop_at=datetime(2026, 12, 5, 18, 0))
    result = backend.run_step(step, ctx)

    (request,) = vertex.requests["create_pipeline_job"]
    assert request.parent == PARENT
    job = request.pipeline_job
    assert job.service_account == INFRA["service_account_email"]
    assert dict(job.labels) == labels_of(ctx)
    root = f"gs://{INFRA['bucket']}/pipelines/{request.pipeline_job_id}"
    assert job.runtime_config.gcs_output_directory == root
    spec = json_format.MessageToDict(job._pb.pipeline_spec)
    assert spec == json.loads((tmp_path / "weekly-retrain.pipeline.json").read_text())

    # the KFP v2 IR: one component + container executor per task, a chain in the lab's order
    order = ["time-series-features", "bqml-forecast", "train-forecaster", "forecast-endpoint"]
    assert spec["schemaVersion"] == SCHEMA_VERSION and spec["defaultPipelineRoot"] == root
    assert spec["pipelineInfo"]["name"] == request.pipeline_job_id
    tasks = spec["root"]["dag"]["tasks"]
    assert sorted(tasks) == sorted(order) and result["tasks"] == order  # a Struct sorts keys
    for before, after in itertools.pairwise(order):
        assert tasks[after]["dependentTasks"] == [before]
    assert tasks[order[0]]["dependentTasks"] == []
    payloads = {}
    for name, task in tasks.items():
        assert task["componentRef"]["name"] == f"comp-{name}"
        exe = spec["components"][f"comp-{name}"]["executorLabel"]
        container = spec["deploymentSpec"]["executors"][exe]["container"]
        assert container["image"] == TASK_IMAGE
        assert container["command"][:3] == ["python3", "-u", "-c"]
        assert "def custom_job(" in container["command"][3]  # the task script itself
        (arg,) = container["args"]
        payloads[name] = json.loads(arg)
    assert [payloads[name]["kind"] for name in order] == [
        "bigquery", "bigquery", "custom-job", "redeploy"
    ]  # fmt: skip
    assert any("LAG(t.sales, 28) OVER" in sql for sql in payloads[order[0]]["sql"])
    assert payloads[order[1]]["labels"] == labels_of(ctx)
    # the train task is the CustomJob labctl runs for the step, outputs per pipeline run
    custom = aip.CustomJob.from_json(json.dumps(payloads["train-forecaster"]["job"]))
    assert custom.job_spec.service_account == INFRA["service_account_email"]
    assert custom.job_spec.base_output_directory.output_uri_prefix == (
        f"{root}/{JOB_UUID}/train-forecaster/"
    )
    assert dict(custom.labels) == labels_of(ctx)
    redeploy = payloads["forecast-endpoint"]
    assert redeploy["artifact"] == f"{root}/{JOB_UUID}/train-forecaster/model/"
    assert redeploy["endpoint"] == ctx.results["forecast-endpoint"]["resource"]
    assert redeploy["service_account"] == INFRA["service_account_email"]
    assert redeploy["variant"] == "forecast-endpoint"  # the name labctl deployed it under

    # the weekly schedule: the same job, UTC cron, ending at the lab's deadline
    (sched,) = [
        r for r in vertex.requests["create_schedule"] if type(r) is aip.CreateScheduleRequest
    ]
    schedule = sched.schedule
    assert schedule.cron == "TZ=UTC 0 6 * * 1"
    assert schedule.create_pipeline_job_request.pipeline_job == job
    assert schedule.end_time == datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
    assert schedule.max_concurrent_run_count == 1
    assert result["schedule"] in vertex.schedules

    # down: the schedule and the pipeline go first, before the endpoint they redeploy
    rows = sorted(ctx.ledger.open_resources(ctx.run.id), key=lambda r: RESOURCE_KINDS.index(r.kind))
    assert [r.kind for r in rows[:2]] == ["pipeline", "pipeline"]
    for r in rows:
        backend.teardown(r, ctx.ledger)
        ctx.ledger.close_resource(r.id, status="deleted")
    assert not vertex.schedules
    assert f"{PARENT}/pipelineJobs/{request.pipeline_job_id}" in vertex.cancelled
    for r in rows:
        backend.teardown(r, ctx.ledger)  # idempotent


def test_movie_recommender_redeploys_the_retrained_variant(tmp_path, vertex, cloud):  # noqa: F811
    ctx, backend, step = up_until_pipeline(tmp_path, "movie-recommender")
    result = backend.run_step(step, ctx)
    assert result["tasks"] == ["bqml-features", "train-recommender", "endpoint"]
    assert "skipped_tasks" not in result
    assert "schedule" not in result  # no schedule in the step: the monitor's schedule only
    assert not [
        r for r in vertex.requests["create_schedule"] if type(r) is aip.CreateScheduleRequest
    ]
    (request,) = vertex.requests["create_pipeline_job"]
    spec = json_format.MessageToDict(request.pipeline_job._pb.pipeline_spec)
    container = spec["deploymentSpec"]["executors"]["exec-endpoint"]["container"]
    redeploy = json.loads(container["args"][0])
    # the retrained model takes the place of the `current` variant (90% of the traffic)
    assert redeploy["variant"] == "current" and redeploy["kind"] == "redeploy"
    assert redeploy["artifact"].endswith("/train-recommender/model/")
    assert not [f for f in backend.check(ctx.lab) if f.step == step.name]


def test_run_order_and_plan():
    lab = catalog_mod.load(REPO / "labs.yaml").lab("sales-forecasting")
    step = lab.step("weekly-retrain")
    reordered = step.model_copy(update={"steps": list(reversed(step.steps))})
    assert run_order(lab, reordered) == run_order(lab, step) == list(step.steps)
    with pytest.raises(UsageError, match="nope"):
        run_order(lab, step.model_copy(update={"steps": ["nope"]}))
    assert [k for _, k, _ in task_plan(lab, step)] == [
        "bigquery", "bigquery", "custom-job", "redeploy"
    ]  # fmt: skip


def test_deadline_is_the_autostop_else_the_month_end(tmp_path):
    ctx = make_ctx(tmp_path, "sales-forecasting")
    assert deadline(ctx, now=datetime(2026, 12, 10)) == datetime(2027, 1, 1, tzinfo=UTC)
    ctx.run = ctx.ledger.update_run(ctx.run.id, autostop_at=datetime(2026, 12, 10, 20))
    assert deadline(ctx) == datetime(2026, 12, 10, 20, tzinfo=UTC)


def test_task_script_runs_the_sql_in_order_with_labels(adc, cloud):  # noqa: F811
    """The in-container script, against the patched BigQuery client of test_gcp."""
    labels = {"labctl-lab": "sales-forecasting"}
    vertex_task.bigquery(
        {"project": "labctl-test-project", "region": "us-central1", "labels": labels,
         "sql": ["CREATE VIEW a AS SELECT 1", "SELECT 2"]}
    )  # fmt: skip
    assert [sql for sql, _ in cloud.queries] == ["CREATE VIEW a AS SELECT 1", "SELECT 2"]
    assert all(cfg.labels == labels and not cfg.use_legacy_sql for _, cfg in cloud.queries)
