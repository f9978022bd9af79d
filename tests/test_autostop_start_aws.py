"""`labctl start` on AWS against moto: after autostop deleted the endpoint (what `cost enforce`
and the cloud's schedule do), the endpoint comes back with its autoscaling from the run's
training job (no new job), under a new deadline that the re-applied stack carries.

The lab's Terraform cannot init offline: its outputs are made in moto (test_aws's `infra`) and
the re-apply is recorded by a stand-in Stack; everything SageMaker is moto's."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import boto3
import pytest
from test_aws import aws_env, infra, make_ctx, moto_server  # noqa: F401 - fixtures

from labctl import orchestrator, session
from labctl.backends.aws import AwsBackend
from labctl.ledger import Ledger
from labctl.progress import Reporter

pytestmark = pytest.mark.aws
LAB = "churn-pipeline"
NOW = datetime(2026, 12, 1, 10, 0)


class Applied:
    folders: ClassVar[list[Path]] = []
    outputs: ClassVar[dict] = {}

    def __init__(self, directory: Path, offline_plugins: bool = False) -> None:
        self.directory = directory

    def init(self) -> None:
        pass

    def apply(self) -> dict:
        Applied.folders.append(self.directory)
        return Applied.outputs


def test_start_brings_the_endpoint_back_from_the_trained_model(tmp_path, infra, monkeypatch):  # noqa: F811
    Applied.folders, Applied.outputs = [], infra
    monkeypatch.setattr(orchestrator, "Stack", Applied)
    ledger = Ledger()
    ctx = make_ctx(tmp_path, LAB, infra, ledger=ledger)
    backend = AwsBackend(poll_seconds=0)
    for step in ctx.lab.steps:
        ctx.record(step, backend.run_step(step, ctx))
    ledger.add_resource(ctx.run, kind="stack", name="terraform:aws", provider_id=str(tmp_path))
    run = ledger.update_run(ctx.run.id, status="up", autostop_at=NOW - timedelta(hours=1),
                            outputs={**ctx.run.outputs, "infra": infra})  # fmt: skip
    sm = boto3.client("sagemaker", region_name="us-east-1")
    jobs = sm.list_training_jobs()["TrainingJobSummaries"]

    # autostop fires: what `cost enforce` tears down for a run past its deadline
    items, _ = orchestrator.enforcement_plan(catalog=None)
    assert {i.resource.kind for i in items} == {"endpoint", "endpoint-config", "model"}
    orchestrator.down(items, reporter=Reporter())
    assert not sm.list_endpoints()["Endpoints"]
    assert ledger.get_run(run.id).status == "up"

    result = session.start(LAB, engineer=run.engineer, target=None, catalog=None,
                           reporter=Reporter(), autostop=2 * 3600, now=NOW)  # fmt: skip
    (endpoint,) = sm.list_endpoints()["Endpoints"]
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointName"] == result.results["endpoint"]["endpoint"]
    assert sm.list_training_jobs()["TrainingJobSummaries"] == jobs  # nothing retrained
    after = ledger.get_run(run.id)
    assert after.autostop_at == NOW + timedelta(hours=2)
    assert result.estimate.total_usd > 0 and after.estimate_usd >= result.estimate.total_usd
    (folder,) = Applied.folders  # the stack, re-applied with the new deadline before the endpoint
    module = json.loads((folder / "main.tf.json").read_text())["module"]["lab"]
    assert module["autostop_at"] == "2026-12-01T12:00:00Z"
    open_kinds = sorted(r.kind for r in ledger.open_resources(run.id))  # autoscaling is back
    # the lab's SageMaker Pipeline (created, never run: no cost) is not an endpoint's: it stayed
    assert open_kinds == ["endpoint", "endpoint-config", "model", "pipeline",
                          "quality-schedule", "scaling-policy", "stack"]  # fmt: skip
