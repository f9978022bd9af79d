"""Quality checks where Model Monitor is closed (issue 12): a monitor step's data- and
model-quality checks as scheduled SageMaker Processing jobs over the captured traffic.

- quality_job.py (the job's script) on a real baseline of generated churn data and capture
  files in SageMaker's format: clean traffic passes, drift / text / missing columns / a worse
  model are each reported, the window keeps only the schedule's hour;
- in moto (which lacks CreateMonitoringSchedule, as a closed account is refused it; and with
  AccessDenied injected): the churn lab's steps run, the schedule exists with the universal
  target, its input (context attributes substituted as EventBridge Scheduler does) is sent as
  CreateProcessingJob, allowed by the `quality` module's policy (applied with Terraform), and
  the job's inputs, copied from S3, give the script what it reads; `down` removes the schedule
  and closes the ledger row at the jobs' billable seconds.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path

import _expiry
import boto3
import pytest
import test_aws
from botocore import xform_name
from botocore.exceptions import ClientError
from test_aws import make_ctx, no_sleep

from labctl import channels, datagen, orchestrator
from labctl.backends.aws import AwsBackend
from labctl.backends.aws import quality_job as qj
from labctl.backends.aws.errors import is_closed_to_account
from labctl.backends.aws.names import quality_job_prefix
from labctl.backends.base import backend_for_render
from labctl.ledger import RESOURCE_KINDS
from labctl.serving import _capture_record

moto_server, aws_env, infra = test_aws.moto_server, test_aws.aws_env, test_aws.infra  # fixtures
EXECUTION_ID = "d32c5kddcf5bb8c3"  # AWS's example of an execution id
SCHEDULED = "2026-12-02T10:00:00Z"


# --- the job's script --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def churn(tmp_path_factory) -> dict:
    """Generated churn data, its Model Monitor baseline, and its validation rows."""
    out = tmp_path_factory.mktemp("churn")
    schema = datagen.generate("telco-churn", rows=3000, seed=7, out_dir=out,
                              validation_fraction=0.3)  # fmt: skip
    channels.baseline(out / "train", schema, out / "baseline")
    rows = [
        line.split(",")
        for f in sorted((out / "validation").iterdir())
        for line in f.read_text().splitlines()
        if line
    ]
    return {"dir": out, "rows": rows}


def write_capture(root: Path, rows: list[list[str]], scores: list[float], hour: str) -> None:
    """Capture files as SageMaker writes them: <variant>/yyyy/mm/dd/hh/*.jsonl, 10 rows each."""
    folder = root / "input" / "capture" / "AllTraffic" / hour
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{len(list(folder.iterdir()))}.jsonl").open("w") as f:
        for i in range(0, len(rows), 10):
            body = "\n".join(",".join(r) for r in rows[i : i + 10]).encode()
            out = "\n".join(f"{s:.4f}" for s in scores[i : i + 10]).encode()
            f.write(json.dumps(_capture_record(0.0, body, "text/csv", out, "text/csv")) + "\n")


def job_root(tmp_path: Path, churn: dict) -> Path:
    root = tmp_path / "processing"
    (root / "input").mkdir(parents=True)
    (root / "input" / "baseline").symlink_to(churn["dir"] / "baseline")
    (root / "input" / "truth").symlink_to(churn["dir"] / "validation")
    return root


def good_scores(rows: list[list[str]]) -> list[float]:
    """A good model's scores: near the label, a few wrong."""
    return [0.8 if r[0] == "1" else 0.2 if i % 10 else 0.7 for i, r in enumerate(rows)]


def test_clean_traffic_passes_both_checks(tmp_path, churn):
    root = job_root(tmp_path, churn)
    rows = churn["rows"][:600]
    write_capture(root, [r[1:] for r in rows], good_scores(rows), "2026/12/02/09")
    report = qj.run(root, list(qj.CHECKS), baseline_metrics={"validation:auc": 0.85})
    assert report["records"] == 600
    assert report["data-quality"]["violations"] == []
    quality = report["model-quality"]
    assert quality["labelled"] == 600 and quality["problem"] == "binary"
    assert quality["metrics"]["auc"] > 0.85 and quality["violations"] == []
    written = json.loads((root / "output" / "constraint_violations.json").read_text())
    assert written == {"violations": []}
    assert json.loads((root / "output" / "report.json").read_text())["violations"] == 0


def test_drift_text_missing_columns_and_a_worse_model_are_reported(tmp_path, churn):
    root = job_root(tmp_path, churn)
    stats = json.loads((churn["dir"] / "baseline" / "statistics.json").read_text())
    first = stats["features"][0]
    spread = first["numerical_statistics"]["std_dev"] or 1.0
    rows = [r[1:] for r in churn["rows"][:400]]
    drifted = [[str(float(r[0]) + 3 * spread), *r[1:]] for r in rows]
    drifted[5][1] = "n/a"  # text in a numeric feature
    drifted[6] = drifted[6][:-1]  # a request one column short
    write_capture(root, drifted, good_scores(churn["rows"][:400]), "2026/12/02/09")
    report = qj.run(root, ["data-quality"])
    violations = report["data-quality"]["violations"]
    found = {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert (first["name"], "baseline_drift_check") in found
    assert (stats["features"][1]["name"], "data_type_check") in found
    assert ("missing columns", "missing_column_check") in found
    assert not [f for f, check in found if check == "baseline_drift_check" and f != first["name"]]
    assert "model-quality" not in report

    # a model that got it backwards, on clean requests
    worse = job_root(tmp_path / "worse", churn)
    bad = [1.0 - s for s in good_scores(churn["rows"][:400])]
    write_capture(worse, rows, bad, "2026/12/02/09")
    report = qj.run(worse, ["model-quality"], baseline_metrics={"validation:auc": 0.85})
    (violation,) = report["model-quality"]["violations"]
    assert violation["constraint_check_type"] == "auc_check"
    assert report["model-quality"]["metrics"]["auc"] < 0.5 and report["violations"] == 1


def test_the_window_keeps_the_hour_before_the_scheduled_time(tmp_path, churn):
    root = job_root(tmp_path, churn)
    rows = churn["rows"][:100]
    write_capture(root, [r[1:] for r in rows[:40]], good_scores(rows[:40]), "2026/12/02/08")
    write_capture(root, [r[1:] for r in rows[40:]], good_scores(rows[40:]), "2026/12/02/09")
    code = qj.main(["--root", str(root), "--checks", "model-quality",
                    "--window-end", SCHEDULED, "--window-hours", "1"])  # fmt: skip
    assert code == 0
    report = json.loads((root / "output" / "report.json").read_text())
    assert report["records"] == 60 and report["model-quality"]["labelled"] == 60
    assert qj.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    # a batch answered on one line, one value per request row, and JSON predictions
    assert qj._values("0.1,0.9,0.4", 3) == ["0.1", "0.9", "0.4"]
    assert qj._values("0.1\n0.9\n0.4\n", 3) == ["0.1", "0.9", "0.4"]
    assert qj._values('{"predictions": [{"score": 0.2}, {"score": 0.7}]}', 2) == ["0.2", "0.7"]


def test_closed_to_the_account_is_told_from_a_bad_request():
    def error(code, message):
        return ClientError(
            {"Error": {"Code": code, "Message": message}}, "CreateMonitoringSchedule"
        )

    assert is_closed_to_account(error("AccessDeniedException", "not authorized"))
    assert is_closed_to_account(
        error("ValidationException", "Model Monitor is not available to new customers")
    )
    assert not is_closed_to_account(error("ValidationException", "Invalid cron expression"))
    assert not is_closed_to_account(error("ResourceInUse", "schedule exists"))


# --- in moto: schedule, request, policy, teardown -----------------------------------------------


def substituted(text: str) -> str:
    """What EventBridge Scheduler sends: its context attributes replaced."""
    return text.replace("<aws.scheduler.execution-id>", EXECUTION_ID).replace(
        "<aws.scheduler.scheduled-time>", SCHEDULED
    )


@pytest.mark.aws
@pytest.mark.parametrize("refusal", ["unimplemented", "AccessDeniedException"])
def test_closed_model_monitor_schedules_processing_jobs_that_check_the_capture(
    tmp_path, infra, monkeypatch, refusal
):
    ctx = make_ctx(tmp_path, "churn-pipeline", infra)
    backend = AwsBackend(sleep=no_sleep, poll_seconds=0)
    sm = backend._client("sagemaker")
    if refusal != "unimplemented":  # moto lacks the call; an account closed to it is refused

        def refused(**_):
            raise ClientError({"Error": {"Code": refusal, "Message": "not authorized"}},
                              "CreateMonitoringSchedule")  # fmt: skip

        monkeypatch.setattr(sm, "create_monitoring_schedule", refused)
    for step in ctx.lab.steps:
        ctx.record(step, backend.run_step(step, ctx))
    monitor = ctx.results["model-monitor"]
    endpoint = ctx.results["endpoint"]["endpoint"]
    prefix = quality_job_prefix("model-monitor", ctx.run.id)
    assert monitor["checks"] == ["data-quality", "model-quality"]
    assert monitor["quality_schedule"] == prefix
    assert not sm.list_data_quality_job_definitions()["JobDefinitionSummaries"]  # none left

    # The schedule: hourly, universal target CreateProcessingJob, the stack's role and group.
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    found = scheduler.get_schedule(Name=prefix, GroupName="lab-quality")
    assert found["ScheduleExpression"] == "rate(1 hour)"
    assert found["Target"]["RoleArn"] == infra["quality_role_arn"]
    service, action = re.fullmatch(
        r"arn:aws:scheduler:::aws-sdk:(\w+):(\w+)", found["Target"]["Arn"]
    ).groups()
    operation = action[0].upper() + action[1:]
    assert (service, operation) == ("sagemaker", "CreateProcessingJob")
    assert operation in sm.meta.service_model.operation_names

    # Its input, as the scheduler sends it, is a valid CreateProcessingJob request...
    request = json.loads(substituted(found["Target"]["Input"]))
    name = request["ProcessingJobName"]
    assert name == f"{prefix}-{EXECUTION_ID}"
    shape = sm.meta.service_model.operation_model(operation).input_shape
    name_rule = shape.members["ProcessingJobName"].metadata
    assert len(name) <= name_rule["max"] and re.fullmatch(name_rule["pattern"], name)
    assert len(f"{prefix}-{'x' * 36}") <= name_rule["max"]  # even a UUID execution id fits
    getattr(sm, xform_name(operation))(**request)
    job = sm.describe_processing_job(ProcessingJobName=name)
    assert job["RoleArn"] == infra["role_arn"]
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=job["ProcessingJobArn"])["Tags"]}
    assert tags["labctl-run"] == ctx.run.id and tags["labctl-lab"] == "churn-pipeline"
    args = job["AppSpecification"]["ContainerArguments"]
    assert args[args.index("--window-end") + 1] == SCHEDULED
    served = ctx.results[ctx.lab.step("endpoint").model].get("metrics") or {}
    assert [a for a in args if a.startswith("--baseline-metric=")] == [
        f"--baseline-metric={k}={v}" for k, v in sorted(served.items())
        if k.startswith("validation:") and v is not None
    ]  # fmt: skip

    # ...that the role may make: the policy the `quality` module computes (applied with
    # Terraform on the inputs `up` renders) allows this job and passing the lab's role, only.
    module = orchestrator.root_module(
        backend_for_render("aws"), engineer=test_aws.ENGINEER, lab="churn-pipeline",
        run_id=ctx.run.id, ws=tmp_path, spec=ctx.lab,
    ).document()["module"]["lab"]  # fmt: skip
    assert module["quality_job_prefixes"] == [prefix]
    out = _expiry.evaluate(
        "aws", tmp_path / "tf", module="quality", job_prefixes=module["quality_job_prefixes"],
        group_name="lab-quality", lab_role_arn=infra["role_arn"], partition="aws",
        region="us-east-1", account_id=infra["account_id"],
    )  # fmt: skip
    start, pass_role = json.loads(out["role_policy"])["Statement"]
    assert sorted(start["Action"]) == ["sagemaker:AddTags", "sagemaker:CreateProcessingJob"]
    assert any(fnmatch(job["ProcessingJobArn"].lower(), arn) for arn in start["Resource"])
    other = job["ProcessingJobArn"].replace(prefix, "someone-else")
    assert not any(fnmatch(other.lower(), arn) for arn in start["Resource"])
    assert pass_role["Resource"] == infra["role_arn"] and pass_role["Action"] == "iam:PassRole"
    trust = json.loads(out["trust_policy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert fnmatch(found["Arn"], trust["Condition"]["ArnLike"]["aws:SourceArn"])
    quality_tf = _expiry.resources("aws", module="quality")
    assert set(quality_tf) == {
        "aws_scheduler_schedule_group.quality", "aws_iam_role.quality",
        "aws_iam_role_policy.quality",
    }  # fmt: skip

    # The job's inputs, copied from S3 where it would read them, are what the script reads:
    # a request of the lab's traffic (validation rows) captured, then checked.
    s3 = boto3.client("s3", region_name="us-east-1")
    validation = ctx.results["churn-data"]["channels"]["validation"]
    bucket, key = validation[5:].split("/", 1)
    first = s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"][0]["Key"]
    text = s3.get_object(Bucket=bucket, Key=first)["Body"].read().decode()
    rows = [line.split(",") for line in text.splitlines()[:50]]
    capture = f"datacapture/{endpoint}/AllTraffic/2026/12/02/09/00-00-000-x.jsonl"
    record = _capture_record(0.0, "\n".join(",".join(r[1:]) for r in rows).encode(), "text/csv",
                             "\n".join(r[0] for r in rows).encode(), "text/csv")  # fmt: skip
    s3.put_object(Bucket=bucket, Key=capture, Body=json.dumps(record).encode())
    root = tmp_path / "processing"
    for item in job["ProcessingInputs"]:
        uri = item["S3Input"]["S3Uri"]
        src_bucket, src_prefix = uri[5:].split("/", 1)
        local = Path(str(root) + item["S3Input"]["LocalPath"].removeprefix("/opt/ml/processing"))
        for obj in s3.list_objects_v2(Bucket=src_bucket, Prefix=src_prefix)["Contents"]:
            rel = obj["Key"][len(src_prefix) :].lstrip("/") or Path(obj["Key"]).name
            (local / rel).parent.mkdir(parents=True, exist_ok=True)
            body = s3.get_object(Bucket=src_bucket, Key=obj["Key"])["Body"].read()
            (local / rel).write_bytes(body)
    assert (root / "input" / "code" / "quality_job.py").is_file()
    assert qj.main([*args, "--root", str(root)]) == 0
    report = json.loads((root / "output" / "report.json").read_text())
    assert report["records"] == 50
    assert report["model-quality"]["labelled"] == 50
    assert report["model-quality"]["metrics"]["accuracy"] == 1.0  # the labels echoed back
    assert report["data-quality"]["violations"] == []

    # `down`: the schedule goes before the endpoint; its row closes at the jobs' billable time.
    ledger = ctx.ledger
    planned = sorted(ledger.open_resources(ctx.run.id), key=lambda r: RESOURCE_KINDS.index(r.kind))
    kinds = [r.kind for r in planned]
    assert kinds.index("quality-schedule") < kinds.index("endpoint")
    (row,) = [r for r in planned if r.kind == "quality-schedule"]
    assert row.price_per_hour is not None and row.instance_type == "ml.m5.large"
    for r in planned:
        backend.teardown(r, ledger)
        ledger.close_resource(r.id, status="deleted")
    assert not scheduler.list_schedules(GroupName="lab-quality")["Schedules"]
    (closed,) = [r for r in ledger.run_resources(ctx.run.id) if r.kind == "quality-schedule"]
    assert not closed.is_open and closed.billable_seconds is not None


@pytest.mark.aws
def test_the_schedule_ends_at_the_deadline_and_follows_extend(tmp_path, infra):
    ctx = make_ctx(tmp_path, "churn-pipeline", infra)
    deadline = datetime(2026, 12, 2, 19, 0)
    ctx.run = ctx.ledger.update_run(ctx.run.id, autostop_at=deadline)
    backend = AwsBackend(sleep=no_sleep, poll_seconds=0)
    for step in ctx.lab.steps:
        ctx.record(step, backend.run_step(step, ctx))
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    name = quality_job_prefix("model-monitor", ctx.run.id)
    found = scheduler.get_schedule(Name=name, GroupName="lab-quality")
    assert found["EndDate"].replace(tzinfo=None) == deadline  # no traffic after the endpoints
    assert found["ActionAfterCompletion"] == "DELETE"

    later = ctx.ledger.update_run(ctx.run.id, autostop_at=deadline + timedelta(hours=2))
    backend.follow_deadline(later, ctx.ledger)  # what `labctl extend` does after re-applying
    moved = scheduler.get_schedule(Name=name, GroupName="lab-quality")
    assert moved["EndDate"].replace(tzinfo=None) == deadline + timedelta(hours=2)
    assert moved["Target"] == found["Target"]
    assert moved["ScheduleExpression"] == "rate(1 hour)"
