"""Vertex AI Model Monitoring v2 requests (v1beta1 GAPIC patched as in test_gcp.py) and the
local target's drift report, which computes the same statistics."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from google.cloud import aiplatform_v1beta1 as beta
from test_gcp import INFRA, PARENT, adc, cloud, make_ctx, no_sleep, vertex  # noqa: F401

from labctl import datagen
from labctl.backends.gcp import GcpBackend
from labctl.backends.local.serving import _drift
from labctl.ledger import RESOURCE_KINDS


def test_model_monitor_and_schedule_requests(tmp_path, vertex, cloud):  # noqa: F811
    ctx = make_ctx(tmp_path, "sales-forecasting")
    ctx.infra["pubsub_subscription"] = "projects/labctl-test-project/subscriptions/events"
    ctx.run = ctx.ledger.update_run(ctx.run.id, autostop_at=datetime(2026, 12, 2, 6, 0))
    backend = GcpBackend(sleep=no_sleep, poll_seconds=0)
    for step in ctx.lab.steps:
        ctx.record(step, backend.run_step(step, ctx))
        if step.name == "forecast-monitor":
            break
    data = ctx.results["store-sales-data"]
    baseline = f"gs://{INFRA['bucket']}/data/store-sales-data/monitoring-baseline/train.csv"
    assert data["monitoring_baseline"] == baseline and baseline in cloud.uploads

    (request,) = vertex.requests["create_model_monitor"]
    assert request.parent == PARENT
    monitor = request.model_monitor
    model = ctx.results["forecast-endpoint"]["models"]["train-forecaster"]
    assert monitor.model_monitoring_target.vertex_model.model == model
    gcs = monitor.training_dataset.columnized_dataset.gcs_source
    assert gcs.gcs_uri == baseline and gcs.format_.name == "CSV"
    features = data["schema"]["features"]
    assert [f.name for f in monitor.model_monitoring_schema.feature_fields] == features
    drift = monitor.tabular_objective.feature_drift_spec
    assert (drift.numeric_metric_type, drift.categorical_metric_type) == (
        "jensen_shannon_divergence",
        "l_infinity",
    )
    assert drift.default_numeric_alert_condition.threshold == pytest.approx(0.3)
    # the step's model-quality check: the drift of the predictions (v2 has no ground truth)
    output = monitor.tabular_objective.prediction_output_drift_spec
    assert output.numeric_metric_type == "jensen_shannon_divergence"
    assert list(monitor.notification_spec.email_config.user_emails) == ["ana@example.com"]
    bucket = f"gs://{INFRA['bucket']}/monitoring/"
    assert monitor.output_spec.gcs_base_directory.output_uri_prefix.startswith(bucket)

    (sched,) = [
        r for r in vertex.requests["create_schedule"] if type(r) is beta.CreateScheduleRequest
    ]
    schedule = sched.schedule
    assert schedule.cron == "TZ=UTC 0 3 * * *"  # the step's `daily`
    assert schedule.end_time == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    job_request = schedule.create_model_monitoring_job_request
    assert job_request.parent in vertex.monitors
    target = job_request.model_monitoring_job.model_monitoring_spec.objective_spec.target_dataset
    endpoint = ctx.results["forecast-endpoint"]["resource"]
    assert list(target.vertex_endpoint_logs.endpoints) == [endpoint]
    assert (target.time_offset.offset, target.time_offset.window) == ("24h", "24h")
    # the endpoint logs its requests to the lab's dataset, which the monitor reads
    (created,) = vertex.requests["create_endpoint"]
    logging = created.endpoint.predict_request_response_logging_config
    assert logging.enabled and logging.sampling_rate == 1.0
    assert logging.bigquery_destination.output_uri.endswith(INFRA["bigquery_dataset"])

    # down: monitoring goes before the endpoint it reads; monitor deleted with force
    rows = sorted(ctx.ledger.open_resources(ctx.run.id), key=lambda r: RESOURCE_KINDS.index(r.kind))
    kinds = [r.kind for r in rows]
    assert kinds.index("monitoring-schedule") < kinds.index("endpoint")
    for r in rows:
        backend.teardown(r, ctx.ledger)
        ctx.ledger.close_resource(r.id, status="deleted")
    assert not vertex.monitors and not vertex.schedules
    for r in rows:
        backend.teardown(r, ctx.ledger)  # gone is success


def test_local_drift_report_next_to_the_baseline(tmp_path):
    data = tmp_path / "data"
    schema = datagen.generate("store-sales", rows=800, seed=5, out_dir=data,
                              validation_fraction=0.25)  # fmt: skip
    out = tmp_path / "monitoring"
    out.mkdir()
    capture = tmp_path / "capture"
    summary = _drift(data, schema, capture, out)
    report = json.loads((out / "drift.json").read_text())
    assert summary["current"].startswith("validation channel") and report["features"]
    assert set(report["features"]) == set(schema["features"])

    # captured requests (SageMaker capture lines, CSV bodies) far from the training data
    rows = pd.read_csv(next((data / "validation").iterdir()), header=None).iloc[:50, 1:]
    rows.iloc[:, 0] = 999  # store_nbr never seen in training
    body = "\n".join(",".join(str(v) for v in r) for r in rows.itertuples(index=False))
    folder = capture / "2026" / "12" / "01" / "10"
    folder.mkdir(parents=True)
    line = {"captureData": {"endpointInput": {"data": body, "encoding": "CSV"}}}
    (folder / "capture.jsonl").write_text(json.dumps(line) + "\n")
    summary = _drift(data, schema, capture, out)
    report = json.loads(Path(summary["report"]).read_text())
    assert summary["current"] == "captured requests" and report["current_rows"] == 50
    first = schema["features"][0]
    assert first in report["drifted"] and report["alert"]
    assert report["features"][first]["distance"] > 0.3
