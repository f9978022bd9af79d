"""Script mode on the aws target (PyTorch / Hugging Face entry points) against moto.

Every request goes to moto's server through botocore, so it is validated against the SageMaker
service model; the requests themselves are captured from the client's `provide-client-params`
event (what labctl asked for, before validation and serialization).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile

import boto3
import pytest
from test_aws import REPO, aws_env, infra, make_ctx, moto_server, no_sleep  # noqa: F401

from labctl import catalog as catalog_mod
from labctl.backends.aws import images, scriptmode
from labctl.backends.aws.backend import AwsBackend
from labctl.backends.aws.checks import train_findings
from labctl.backends.aws.tuning import parameter_ranges
from labctl.catalog import CategoricalRange
from labctl.errors import LabctlError, Unsupported

pytestmark = pytest.mark.aws

SCRIPT_LABS = ("distributed-training-inference", "computer-vision-pipeline", "streaming-edge-ml")
HF_TRAINING_GPU = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training:"
    "2.8.0-transformers4.56.2-gpu-py312-cu129-ubuntu22.04"
)


@pytest.fixture(scope="module")
def cat():
    return catalog_mod.load(REPO / "labs.yaml")


def backend_capturing(region="us-east-1"):
    """An AwsBackend whose SageMaker requests are kept, operation -> list of kwargs."""
    backend = AwsBackend(
        session=boto3.session.Session(region_name=region), sleep=no_sleep, poll_seconds=0
    )
    sent: dict[str, list[dict]] = {}

    def keep(params, model, **_):
        sent.setdefault(model.name, []).append(json.loads(json.dumps(params, default=str)))

    backend._client("sagemaker").meta.events.register("provide-client-params.sagemaker.*", keep)
    return backend, sent


def record_data(ctx, data_step, bucket):
    """The data step's result, as the data step writes it (its folders in the bucket)."""
    step = ctx.lab.step(data_step)
    prefix = f"s3://{bucket}/data/{data_step}"
    ctx.record(
        step,
        {"channels": {c: f"{prefix}/{c}/" for c in ("train", "validation", "batch-input")}},
    )


def read_s3(uri):
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return (
        boto3.client("s3", region_name="us-east-1")
        .get_object(Bucket=bucket, Key=key)["Body"]
        .read()
    )


# --- training ------------------------------------------------------------------------------------


def test_distributed_training_job_request(tmp_path, infra):  # noqa: F811
    ctx = make_ctx(tmp_path, "distributed-training-inference", infra)
    record_data(ctx, "reviews-data", infra["bucket"])
    backend, sent = backend_capturing()
    step = ctx.lab.step("train-distributed")
    result = backend.train(step=step, ctx=ctx)

    [req] = sent["CreateTrainingJob"]
    name = req["TrainingJobName"]
    source = f"s3://{infra['bucket']}/code/{name}/sourcedir.tar.gz"
    # a Hugging Face step (model: distilbert-base-uncased): the Hugging Face training image
    assert req["AlgorithmSpecification"]["TrainingImage"] == HF_TRAINING_GPU
    regex = r"#metric validation:accuracy=([-+0-9.eE]+|nan|inf)"
    assert req["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "validation:accuracy", "Regex": regex}
    ]
    hps = req["HyperParameters"]
    # every value JSON-encoded, as the SDK's framework estimators send them
    assert hps["sagemaker_program"] == '"hf_text.py"'
    assert hps["sagemaker_submit_directory"] == json.dumps(source)
    assert hps["sagemaker_region"] == '"us-east-1"'
    assert hps["sagemaker_container_log_level"] == "20"
    assert hps["sagemaker_torch_distributed_enabled"] == "true"
    assert hps["sagemaker_instance_type"] == '"ml.p4d.24xlarge"'
    assert "sagemaker_distributed_dataparallel_enabled" not in hps
    assert hps["model"] == '"distilbert-base-uncased"'
    assert hps["epochs"] == "1" and hps["learning_rate"] == "0.0002"
    assert hps["checkpointing"] == "true"
    assert req["ResourceConfig"] == {
        "InstanceType": "ml.p4d.24xlarge",
        "InstanceCount": 2,
        "VolumeSizeInGB": 100,
    }
    assert [c["ChannelName"] for c in req["InputDataConfig"]] == ["train", "validation"]
    assert {
        c["DataSource"]["S3DataSource"]["S3DataDistributionType"] for c in req["InputDataConfig"]
    } == {"FullyReplicated"}
    # managed spot with a per-job checkpoint prefix; the wait is the step's, not capped at 1 h
    assert req["EnableManagedSpotTraining"] is True
    assert req["CheckpointConfig"] == {"S3Uri": f"s3://{infra['bucket']}/checkpoints/{name}/"}
    assert req["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}

    assert result["source_dir"] == source and result["program"] == "hf_text.py"
    [row] = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "training-job"]
    assert row.attrs["source_dir"] == source and row.instance_count == 2


def test_uploaded_source_folder_runs_the_entry_point(tmp_path, infra):  # noqa: F811
    ctx = make_ctx(tmp_path, "distributed-training-inference", infra)
    record_data(ctx, "reviews-data", infra["bucket"])
    backend, _ = backend_capturing()
    result = backend.train(step=ctx.lab.step("train-baseline"), ctx=ctx)

    blob = read_s3(result["source_dir"])
    assert blob == scriptmode.pack("hf_text")  # reproducible: same source, same bytes
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        names = sorted(tar.getnames())
        assert names == [
            "hf_text.py",
            "labctl/__init__.py",
            "labctl/entrypoints/__init__.py",
            "labctl/entrypoints/_torch.py",
            "labctl/entrypoints/contract.py",
            "labctl/entrypoints/text_classifier.py",  # its request and response handlers
        ]
        assert tar.extractfile("labctl/__init__.py").read() == b""
        assert (
            tar.extractfile("hf_text.py").read()
            == (REPO / "labctl/entrypoints/hf_text.py").read_bytes()
        )
        code = tmp_path / "code"
        tar.extractall(code, filter="data")
    # As SageMaker runs it from /opt/ml/code: the packed labctl.entrypoints, nothing else.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = (
        "import hf_text as m, labctl.entrypoints.contract as c;"
        "print(c.__file__);"
        "print(all(callable(getattr(m, f)) for f in ('model_fn', 'input_fn', 'predict_fn')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=code, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    where, ok = out.stdout.split()
    assert where.startswith(str(code)) and ok == "True"


def test_source_folder_follows_imports_transitively():
    files = scriptmode.source_files("propensity")
    assert "propensity.py" in files
    assert {"labctl/entrypoints/_tracking.py", "labctl/entrypoints/contract.py"} <= set(files)
    # automl_image imports its inference handlers from image_classifier
    assert "labctl/entrypoints/image_classifier.py" in scriptmode.source_files("automl_image")
    assert {"sensor_anomaly.py", "labctl/entrypoints/_torch.py"} <= set(
        scriptmode.source_files("sensor_anomaly")
    )
    # multitask_vision reuses the image classifier's request and response handlers
    assert {"multitask_vision.py", "labctl/entrypoints/image_classifier.py"} <= set(
        scriptmode.source_files("multitask_vision")
    )
    # an entry point that does not exist yet: the package is still packed, without it
    assert set(scriptmode.source_files("not_written_yet")) == {"labctl/entrypoints/__init__.py"}


# --- tuning, deploy, batch ----------------------------------------------------------------------


def test_tuning_deploy_and_batch_over_script_mode(tmp_path, infra):  # noqa: F811
    ctx = make_ctx(tmp_path, "computer-vision-pipeline", infra)
    record_data(ctx, "vision-data", infra["bucket"])
    backend, sent = backend_capturing()
    lab = ctx.lab
    for name in ("tune-multitask", "train-student"):
        step = lab.step(name)
        ctx.record(step, backend.run_step(step, ctx))
        put_model(ctx.results[name]["model_artifact"], name.encode())
    for name in ("endpoint", "batch-predict"):
        step = lab.step(name)
        ctx.record(step, backend.run_step(step, ctx))

    [tune] = sent["CreateHyperParameterTuningJob"]
    definition = tune["TrainingJobDefinition"]
    static = definition["StaticHyperParameters"]
    tuned = {"learning_rate", "weight_decay", "batch_size"}
    assert not tuned & set(static)
    assert static["sagemaker_program"] == '"multitask_vision.py"'
    source = json.loads(static["sagemaker_submit_directory"])
    assert source.startswith(f"s3://{infra['bucket']}/code/tune-multitask-")
    assert static["backbone"] == '"resnet50"' and static["pretrained"] == "true"
    assert definition["AlgorithmSpecification"]["MetricDefinitions"][0]["Name"] == "validation:mAP"
    assert tune["HyperParameterTuningJobConfig"]["ParameterRanges"][
        "CategoricalParameterRanges"
    ] == [{"Name": "batch_size", "Values": ["16", "32", "64"]}]
    # the sourcedir: the entry point at the top, the package it imports below
    with tarfile.open(fileobj=io.BytesIO(read_s3(source)), mode="r:gz") as tar:
        assert {"multitask_vision.py", "labctl/entrypoints/__init__.py"} <= set(tar.getnames())

    models = {m["ModelName"]: m["PrimaryContainer"] for m in sent["CreateModel"]}
    # teacher (the tuning job's best) and student; batch transform reuses the teacher
    assert set(models) == set(ctx.results["endpoint"]["models"].values())
    for model, container in models.items():
        assert container["Image"] == (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-gpu-py312"
        )
        assert container["Environment"] == {
            "SAGEMAKER_PROGRAM": "multitask_vision.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            "SAGEMAKER_REGION": "us-east-1",
        }
        # the training artifact, repacked with the entry point's source under code/
        assert container["ModelDataUrl"] == f"s3://{infra['bucket']}/models/{model}/model.tar.gz"
        with tarfile.open(fileobj=io.BytesIO(read_s3(container["ModelDataUrl"])), mode="r:gz") as t:
            names = t.getnames()
            trained = t.extractfile("model.pth").read()
        assert "code/labctl/entrypoints/__init__.py" in names  # what exists of its source
        step = "tune-multitask" if model.startswith("endpoint-tune") else "train-student"
        assert trained == step.encode()

    [transform] = sent["CreateTransformJob"]
    assert transform["ModelName"] == ctx.results["endpoint"]["models"]["tune-multitask"]
    [config] = sent["CreateEndpointConfig"]
    assert config["DataCaptureConfig"]["CaptureContentTypeHeader"]["JsonContentTypes"] == [
        "application/json"
    ]


def put_model(uri, weights):
    """A training artifact where the job would have left it (moto's jobs write nothing)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.pth")
        info.size = len(weights)
        tar.addfile(info, io.BytesIO(weights))
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=bucket, Key=key, Body=raw.getvalue()
    )


def test_repack_puts_the_entry_point_under_code(tmp_path):
    trained = tmp_path / "trained.tar.gz"
    with tarfile.open(trained, mode="w:gz") as tar:
        for name, data in (("model.joblib", b"weights"), ("code/stale.py", b"old")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "model.tar.gz"
    scriptmode.repack(trained, "text_classifier", out)
    with tarfile.open(out, mode="r:gz") as tar:
        assert sorted(tar.getnames()) == [
            "code/labctl/__init__.py",
            "code/labctl/entrypoints/__init__.py",
            "code/labctl/entrypoints/_torch.py",
            "code/labctl/entrypoints/contract.py",
            "code/text_classifier.py",
            "model.joblib",
        ]
        assert tar.extractfile("model.joblib").read() == b"weights"


# --- images, regions, distribution ---------------------------------------------------------------


def test_framework_image_per_region_and_processor():
    assert images.framework_uri("pytorch-training", "af-south-1", "ml.c5.2xlarge") == (
        "626614931356.dkr.ecr.af-south-1.amazonaws.com/pytorch-training:2.8.0-cpu-py312"
    )
    assert images.framework_uri("huggingface-training", "cn-north-1", "ml.g5.xlarge") == (
        "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/huggingface-pytorch-training:"
        "2.8.0-transformers4.56.2-gpu-py312-cu129-ubuntu22.04"
    )
    assert images.framework_uri("huggingface-inference", "eu-west-1", "ml.c5.large").endswith(
        "huggingface-pytorch-inference:2.6.0-transformers4.51.3-cpu-py312-ubuntu22.04"
    )


def test_processor_of_instance_types():
    assert [
        images.processor(t)
        for t in (
            "ml.g5.xlarge",
            "ml.p4d.24xlarge",
            "ml.c5.large",
            "ml.m5.xlarge",
            "ml.inf2.xlarge",
        )
    ] == ["gpu", "gpu", "cpu", "cpu", "inf"]
    with pytest.raises(LabctlError, match="no inf build"):
        images.framework_uri("pytorch-inference", "us-east-1", "ml.inf2.xlarge")


def test_categorical_ranges_are_json_encoded_for_script_mode(cat):
    tune = cat.lab("computer-vision-pipeline").step("tune-multitask")
    opt = tune.model_copy(
        update={"ranges": {"optimizer": CategoricalRange(type="categorical", values=["adam", 1])}}
    )
    assert parameter_ranges(opt, json_values=True)["CategoricalParameterRanges"] == [
        {"Name": "optimizer", "Values": ['"adam"', "1"]}
    ]
    assert parameter_ranges(opt)["CategoricalParameterRanges"][0]["Values"] == ["adam", "1"]


def test_check_refuses_a_region_or_instance_without_the_image(cat):
    hf = cat.lab("distributed-training-inference").step("train-baseline")
    assert hf.algorithm == "huggingface"
    assert not [f for f in train_findings(hf, "us-east-1") if f.fatal]
    # ap-southeast-5 has the PyTorch training image but no Hugging Face one
    pytorch = hf.model_copy(update={"algorithm": "pytorch"})
    assert not [f for f in train_findings(pytorch, "ap-southeast-5") if f.fatal]
    [finding] = [f for f in train_findings(hf, "ap-southeast-5") if f.fatal]
    assert finding.step == "train-baseline"
    assert "huggingface-pytorch-training" in finding.reason and "ap-southeast-5" in finding.reason
    # the Hugging Face training image is gpu-only
    on_cpu = hf.model_copy(update={"instance_type": "ml.c5.2xlarge"})
    [finding] = [f for f in train_findings(on_cpu, "us-east-1") if f.fatal]
    assert "no cpu build" in finding.reason


def test_smddp_only_where_sagemaker_runs_it(cat, monkeypatch):
    step = cat.lab("distributed-training-inference").step("train-distributed")
    smddp = step.model_copy(
        update={"hyperparameters": {**step.hyperparameters, "distribution": "smddp"}}
    )
    # the table's PyTorch (2.8.0) is newer than SMDDP's last supported one
    [finding] = [f for f in train_findings(smddp, "us-east-1") if f.fatal]
    assert finding.step == "train-distributed"
    assert "smddp" in finding.reason and "torch_distributed" in finding.reason
    monkeypatch.setattr(scriptmode, "SMDDP_PYTORCH_VERSIONS", ("2.8.0",))
    assert scriptmode.distribution_hyperparameters(smddp) == {
        "sagemaker_distributed_dataparallel_enabled": True,
        "sagemaker_instance_type": "ml.p4d.24xlarge",
        "sagemaker_distributed_dataparallel_custom_mpi_options": "",
    }
    for itype in ("ml.g5.12xlarge", "ml.p5.48xlarge"):
        other = smddp.model_copy(update={"instance_type": itype})
        [finding] = [f for f in train_findings(other, "us-east-1") if f.fatal]
        assert itype in finding.reason
    unknown = step.model_copy(update={"hyperparameters": {"distribution": "horovod"}})
    [finding] = [f for f in train_findings(unknown, "us-east-1") if f.fatal]
    assert "unknown distribution 'horovod'" in finding.reason


@pytest.mark.parametrize("lab_name", SCRIPT_LABS)
def test_plan_has_no_fatal_finding_for_script_mode_steps(cat, lab_name):
    lab = cat.lab(lab_name)
    kinds = {s.name: s.kind for s in lab.steps}
    backend = AwsBackend(session=boto3.session.Session(region_name="us-east-1"))
    fatal = [
        f
        for f in backend.check(lab)
        if f.fatal and kinds[f.step] in ("train", "tune", "deploy", "batch")
    ]
    assert fatal == []


def test_refused_job_uploads_nothing(tmp_path, infra):  # noqa: F811
    ctx = make_ctx(tmp_path, "distributed-training-inference", infra)
    record_data(ctx, "reviews-data", infra["bucket"])
    backend, sent = backend_capturing()
    step = ctx.lab.step("train-distributed")
    smddp = step.model_copy(
        update={"hyperparameters": {**step.hyperparameters, "distribution": "smddp"}}
    )
    with pytest.raises(Unsupported, match=r"train-distributed.*smddp"):
        backend.train(step=smddp, ctx=ctx)
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=infra["bucket"])
    assert listed["KeyCount"] == 0 and not sent
    assert not ctx.ledger.run_resources(ctx.run.id)


def test_check_refuses_serving_a_script_model_where_there_is_no_inference_image(cat):
    lab = cat.lab("computer-vision-pipeline")
    backend = AwsBackend(session=boto3.session.Session(region_name="us-iso-east-1"))
    serving = [f for f in backend.check(lab) if f.step in ("endpoint", "batch-predict")]
    # both variants (teacher and student) and the batch transform, each naming the region
    assert len(serving) == 3 and all(f.fatal for f in serving)
    assert all("pytorch-inference" in f.reason and "us-iso-east-1" in f.reason for f in serving)
