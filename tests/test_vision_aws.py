"""computer-vision-pipeline on the aws target: the plan, the data step and the script-mode
requests of its train, tune and distillation steps, against moto through botocore (so every
request is validated against the SageMaker service model)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile

import pytest
from test_aws import aws_env, infra, make_ctx, moto_server  # noqa: F401
from test_aws_scriptmode import backend_capturing, put_model, read_s3, record_data

from labctl.entrypoints import contract

pytestmark = pytest.mark.aws

LAB = "computer-vision-pipeline"
TRAINING_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.8.0-gpu-py312"


def test_plan_on_aws_has_no_fatal_finding(cli) -> None:
    plan = cli("plan", LAB, "--target", "aws", "--json")
    out = json.loads(plan.stdout)
    assert out["target"] == "aws"
    assert [f for f in out["findings"] if f["fatal"]] == []
    # script mode: no "not a built-in algorithm", and the entry point exists
    reasons = " ".join(f["reason"] for f in out["findings"])
    assert "built-in" not in reasons and "does not exist yet" not in reasons
    # what may still refuse `up` is the budget, never the lab
    assert out["refused"] is None or out["refused"]["type"] == "BudgetRefused"


def test_data_step_uploads_boxed_images_and_json_lines_to_score(tmp_path, infra) -> None:  # noqa: F811
    ctx = make_ctx(tmp_path, LAB, infra)
    backend, _ = backend_capturing()
    result = backend.data(step=ctx.lab.step("vision-data"), ctx=ctx)
    assert set(result["channels"]) == {"train", "validation", "batch-input"}
    assert result["schema"]["classes"] == ["circle", "square", "triangle", "diamond"]
    import numpy as np

    prefix = result["channels"]["train"]
    with np.load(io.BytesIO(read_s3(prefix + "images.npz"))) as train:
        assert train["x"].shape[1:] == (32, 32, 3) and train["boxes"].shape[1] == 4
    # the batch transform's input: one flattened image per line, no label (batch_input)
    lines = read_s3(result["channels"]["batch-input"] + "images.jsonl").decode().splitlines()
    assert len(lines) == result["schema"]["validation_rows"]
    assert len(json.loads(lines[0])) == 32 * 32 * 3


def run_training_steps(ctx, bucket):
    """train-multitask, tune-multitask, train-student as `up` runs them; the requests sent."""
    record_data(ctx, "vision-data", bucket)
    backend, sent = backend_capturing()
    for name in ("train-multitask", "tune-multitask", "train-student"):
        step = ctx.lab.step(name)
        ctx.record(step, backend.run_step(step, ctx))
        put_model(ctx.results[name]["model_artifact"], name.encode())
    return sent


def test_multitask_and_student_job_requests(tmp_path, infra) -> None:  # noqa: F811
    ctx = make_ctx(tmp_path, LAB, infra)
    bucket = infra["bucket"]
    sent = run_training_steps(ctx, bucket)
    teacher, student = sent["CreateTrainingJob"]
    for req, step in ((teacher, "train-multitask"), (student, "train-student")):
        name = req["TrainingJobName"]
        spec = req["AlgorithmSpecification"]
        assert spec["TrainingImage"] == TRAINING_IMAGE  # ml.g5.xlarge: the gpu image
        [metric] = spec["MetricDefinitions"]
        assert metric["Name"] == "validation:mAP"
        # the regex reads the line the script prints (with or without an epoch step)
        line = contract.format_metric("validation:mAP", 0.8125, step=3)
        assert re.search(metric["Regex"], line).group(1) == "0.8125"
        hps = req["HyperParameters"]
        assert hps["sagemaker_program"] == '"multitask_vision.py"'
        source = json.loads(hps["sagemaker_submit_directory"])
        assert source == f"s3://{bucket}/code/{name}/sourcedir.tar.gz"
        # one instance each: no distribution flags
        assert not any(k.startswith(("sagemaker_torch", "sagemaker_distributed")) for k in hps)
        assert req["ResourceConfig"]["InstanceCount"] == 1
        # managed spot, checkpoints in the job's own prefix (the script resumes from them)
        assert req["EnableManagedSpotTraining"] is True
        assert req["CheckpointConfig"] == {"S3Uri": f"s3://{bucket}/checkpoints/{name}/"}
        assert req["StoppingCondition"] == {
            "MaxRuntimeInSeconds": 7200,
            "MaxWaitTimeInSeconds": 14400,
        }
        assert name.startswith(step)

    assert json.loads(teacher["HyperParameters"]["backbone"]) == "resnet50"
    assert [c["ChannelName"] for c in teacher["InputDataConfig"]] == ["train", "validation"]
    # the student: its hyperparameters, and the teacher (the tuning job's best model) as a channel
    hps = student["HyperParameters"]
    assert hps["distill_from"] == '"tune-multitask"'
    assert hps["temperature"] == "4" and hps["alpha"] == "0.5"
    assert hps["backbone"] == '"mobilenet_v3_small"'
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in student["InputDataConfig"]
    }
    assert list(channels) == ["train", "validation", "teacher"]
    assert channels["teacher"] == {
        "S3DataType": "S3Prefix",
        "S3Uri": ctx.results["tune-multitask"]["model_artifact"],
        "S3DataDistributionType": "FullyReplicated",
    }
    assert channels["teacher"]["S3Uri"].endswith("/output/model.tar.gz")

    # the tuning job: the same script, Hyperband, its ranges out of the static hyperparameters
    [tune] = sent["CreateHyperParameterTuningJob"]
    config = tune["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Hyperband"
    definition = tune["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"]["TrainingImage"] == TRAINING_IMAGE
    assert definition["StaticHyperParameters"]["sagemaker_program"] == '"multitask_vision.py"'
    assert {"learning_rate", "weight_decay", "batch_size"}.isdisjoint(
        definition["StaticHyperParameters"]
    )


def test_student_on_two_instances_asks_for_torchrun(tmp_path, infra) -> None:  # noqa: F811
    ctx = make_ctx(tmp_path, LAB, infra)
    record_data(ctx, "vision-data", infra["bucket"])
    ctx.record(
        ctx.lab.step("tune-multitask"),
        {"model_artifact": f"s3://{infra['bucket']}/models/best/output/model.tar.gz"},
    )
    backend, sent = backend_capturing()
    step = ctx.lab.step("train-student")
    two = step.model_copy(
        update={
            "instance_count": 2,
            "hyperparameters": {**step.hyperparameters, "distribution": "torch_distributed"},
        }
    )
    backend.train(step=two, ctx=ctx)
    [req] = sent["CreateTrainingJob"]
    hps = req["HyperParameters"]
    assert hps["sagemaker_torch_distributed_enabled"] == "true"
    assert hps["sagemaker_instance_type"] == '"ml.g5.xlarge"'
    assert req["ResourceConfig"]["InstanceCount"] == 2
    # every instance gets every channel whole; the script shards the rows by rank
    assert {
        c["DataSource"]["S3DataSource"]["S3DataDistributionType"] for c in req["InputDataConfig"]
    } == {"FullyReplicated"}


def test_uploaded_source_serves_from_a_bare_folder(tmp_path, infra) -> None:  # noqa: F811
    """The sourcedir holds what multitask_vision imports; its handlers load without labctl."""
    ctx = make_ctx(tmp_path, LAB, infra)
    record_data(ctx, "vision-data", infra["bucket"])
    backend, _ = backend_capturing()
    result = backend.train(step=ctx.lab.step("train-multitask"), ctx=ctx)
    with tarfile.open(fileobj=io.BytesIO(read_s3(result["source_dir"])), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == [
            "labctl/__init__.py",
            "labctl/entrypoints/__init__.py",
            "labctl/entrypoints/_torch.py",
            "labctl/entrypoints/contract.py",
            "labctl/entrypoints/image_classifier.py",
            "multitask_vision.py",
        ]
        tar.extractall(tmp_path / "code", filter="data")
    probe = (
        "import multitask_vision as m;"
        "print(all(callable(getattr(m, f)) for f in "
        "('model_fn', 'input_fn', 'predict_fn', 'output_fn')), m.CONTENT_TYPE)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path / "code",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "application/json"]


def test_batch_transform_and_endpoint_requests(tmp_path, infra) -> None:  # noqa: F811
    ctx = make_ctx(tmp_path, LAB, infra)
    sent = run_training_steps(ctx, infra["bucket"])
    backend, served = backend_capturing()
    for name in ("endpoint", "batch-predict"):
        step = ctx.lab.step(name)
        ctx.record(step, backend.run_step(step, ctx))
    [transform] = served["CreateTransformJob"]
    # the images as JSON lines (what batch_input wrote), answered as JSON, one line each
    assert transform["TransformInput"]["ContentType"] == "application/jsonlines"
    assert transform["TransformInput"]["SplitType"] == "Line"
    assert transform["TransformOutput"]["Accept"] == "application/json"
    assert transform["TransformResources"]["InstanceType"] == "ml.g4dn.xlarge"
    [config] = served["CreateEndpointConfig"]
    variants = {v["VariantName"]: v for v in config["ProductionVariants"]}
    assert set(variants) == {"teacher", "student"}
    assert {v["InitialVariantWeight"] for v in variants.values()} == {0.5}
    models = {m["ModelName"]: m["PrimaryContainer"] for m in served["CreateModel"]}
    assert {c["Environment"]["SAGEMAKER_PROGRAM"] for c in models.values()} == {
        "multitask_vision.py"
    }
    assert sent["CreateTrainingJob"]  # the models served are the ones trained above
