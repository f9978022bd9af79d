"""The Hugging Face entry point (`hf_text`): built from a config off SageMaker (nothing
downloaded), pretrained on SageMaker; and its script-mode request on the aws target.

The training tests need PyTorch and transformers (`pip install 'labctl[torch]'`) and are skipped
without them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from test_aws import aws_env, infra, moto_server  # noqa: F401

from labctl import datagen
from labctl.backends.local import training
from labctl.entrypoints import contract

REPO = Path(__file__).resolve().parents[1]


def run_job(tmp_path: Path, hps: dict, *, count: int = 1, **env: str) -> tuple[int, str]:
    """hf_text as the local backend runs a job of `count` instances, with no Hub and an empty
    cache; (exit code, log)."""
    data = tmp_path / "reviews"
    if not data.exists():
        datagen.generate("amazon-reviews-text", rows=1000, seed=3, out_dir=data)
    job = tmp_path / "job"
    sm = contract.prepare_job_dir(
        job, {c: data / c for c in ("train", "validation")}, hps, instance_count=count
    )
    offline = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-cache"), "SM_NUM_CPUS": "1"}
    proc = subprocess.run(
        training.command("labctl.entrypoints.hf_text", f"job-test-{tmp_path.name}", count),
        cwd=job,
        env={**os.environ, **sm, **offline, **env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_local_model_trains_at_least_local_min_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    from labctl.entrypoints import hf_text

    monkeypatch.setenv("SM_HPS", "{}")
    # 4,000 reviews on 2 ranks at batch 64: 25 steps an epoch, too few from random weights
    assert hf_text.local_epochs(1, 25) == 4
    assert hf_text.local_epochs(1, 125) == 1  # the lab's 20,000 rows: the step's one epoch
    assert hf_text.local_epochs(6, 25) == 6  # never fewer than the step asks for
    monkeypatch.setenv("SM_HPS", json.dumps({"local_min_steps": 30}))
    assert hf_text.local_epochs(1, 25) == 2
    monkeypatch.setenv("SM_HPS", json.dumps({"local_min_steps": -1}))
    with pytest.raises(contract.HyperparameterError, match="local_min_steps"):
        hf_text.local_epochs(1, 25)


def test_local_encoding_starts_with_cls_and_pads_to_the_longest() -> None:
    pytest.importorskip("torch")
    from labctl.entrypoints import hf_text

    vocab = {"great": 3, "value": 4}
    out = hf_text.encode(["great value", "great unheard of words"], vocab, None, length=4)
    cls, unk, pad = hf_text.CLS, hf_text.UNKNOWN, hf_text.PAD
    assert out["input_ids"].tolist() == [[cls, 3, 4, pad], [cls, 3, unk, unk]]  # cut to 4
    assert out["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]
    assert hf_text.encode(["great"], vocab, None, length=64)["input_ids"].tolist() == [[cls, 3]]


def test_learning_rate_warms_up_then_follows_lr_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from labctl.entrypoints import hf_text

    def rates(hps: dict, steps: int = 100) -> list[float]:
        monkeypatch.setenv("SM_HPS", json.dumps(hps))
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.002)
        scheduler = hf_text.schedule(optimizer, steps)
        out = []
        for _ in range(steps):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return out

    cosine = rates({"lr_scheduler": "cosine"})  # train-distributed's
    assert cosine[0] == 0 and cosine[5] == pytest.approx(0.001)  # warmup: 10 of 100 steps
    assert cosine[10] == pytest.approx(0.002) and cosine[55] == pytest.approx(0.001)
    assert rates({"lr_scheduler": "constant", "warmup_ratio": 0})[99] == pytest.approx(0.002)
    assert rates({})[55] == pytest.approx(0.001)  # linear by default
    with pytest.raises(contract.HyperparameterError, match="lr_scheduler"):
        rates({"lr_scheduler": "polynomial"})


@pytest.mark.slow
def test_hf_text_trains_from_a_config_offline_on_two_ranks_and_serves(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    hps = {
        "model": "distilbert-base-uncased",
        "epochs": 3,
        "max_seq_length": 64,
        "learning_rate": 0.00005,  # a fine-tuning rate: local_learning_rate is used instead
        "mixed_precision": "bf16",
    }
    code, log = run_job(tmp_path, hps, count=2)
    assert code == 0, log
    assert "a 2-layer DistilBERT of width 64 built from a config" in log
    assert "[rank1] rank 1/2: joined the gloo process group" in log
    assert "400 of 800 documents per epoch" in log
    # 13 steps an epoch: 8 epochs for local_min_steps (100) steps from random weights
    assert "3 epoch(s) of 13 steps are too few from random weights: 8 epochs" in log
    # nothing was downloaded into the (empty) Hugging Face cache
    assert not [p for p in (tmp_path / "empty-cache").rglob("*") if p.is_file()]
    model_dir = tmp_path / "job" / "model"
    assert {"config.json", "model.safetensors", "labels.json"} <= {
        p.name for p in model_dir.iterdir()
    }
    config = json.loads((model_dir / "config.json").read_text())
    assert config["n_layers"] == 2 and config["dim"] == 64
    metrics = json.loads((tmp_path / "job" / "output" / "data" / "metrics.json").read_text())
    # two classes (chance 0.5); from random weights on 800 reviews it reaches ~0.88
    assert metrics["validation:accuracy"] > 0.75 and metrics["train:accuracy"] > 0.9

    from labctl.entrypoints import hf_text

    model = hf_text.model_fn(str(model_dir))
    body = json.dumps({"instances": ["great product works perfectly", "broke after a day"]})
    out, _ = hf_text.output_fn(hf_text.predict_fn(hf_text.input_fn(body.encode(), ""), model), "")
    predictions = json.loads(out)
    assert len(predictions) == 2
    assert all(p["label"][0] in ("__label__positive", "__label__negative") for p in predictions)


@pytest.mark.slow
def test_hf_text_loads_the_named_pretrained_model_in_a_sagemaker_job(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    # SageMaker's training container sets TRAINING_JOB_NAME; offline, the Hub load must fail
    code, log = run_job(tmp_path, {"model": "distilbert-base-uncased"}, TRAINING_JOB_NAME="j-1")
    assert code == 1
    assert "loading the pretrained distilbert-base-uncased and its tokenizer" in log
    assert "huggingface.co" in (tmp_path / "job" / "output" / "failure").read_text()
    assert "built from a config" not in log


# --------------------------------------------------------------------------- on SageMaker


def test_the_catalogs_hugging_face_steps_run_hf_text() -> None:
    """A step naming a Hugging Face checkpoint (`model: distilbert-...`) runs on the Hugging Face
    images with the entry point that loads it (on SageMaker) or builds it from a config."""
    from labctl import catalog
    from labctl.catalog import TrainStep

    cat = catalog.load(REPO / "labs.yaml")
    train = [
        (name, s) for name, lab in cat.labs.items() for s in lab.steps if isinstance(s, TrainStep)
    ]
    checkpoints = {
        (lab, s.name) for lab, s in train if "bert" in str(s.hyperparameters.get("model", ""))
    }
    hf = {(lab, s.name): s for lab, s in train if s.algorithm == "huggingface"}
    lab = "distributed-training-inference"
    assert set(hf) == {(lab, "train-baseline"), (lab, "train-distributed")} == checkpoints
    assert {s.entry_point for s in hf.values()} == {"hf_text"}
    assert all(s.algorithm == "huggingface" for _, s in train if s.entry_point == "hf_text")


@pytest.mark.aws
def test_hugging_face_step_request_and_serving_image(tmp_path: Path, infra) -> None:  # noqa: F811
    import io
    import tarfile

    from test_aws import make_ctx
    from test_aws_scriptmode import HF_TRAINING_GPU, backend_capturing, read_s3, record_data

    from labctl.backends.aws import scriptmode

    ctx = make_ctx(tmp_path, "distributed-training-inference", infra)
    record_data(ctx, "reviews-data", infra["bucket"])
    backend, sent = backend_capturing()
    step = ctx.lab.step("train-baseline")  # ml.g5.xlarge, spot, model: distilbert
    assert (step.algorithm, step.entry_point) == ("huggingface", "hf_text")
    result = backend.train(step=step, ctx=ctx)

    [req] = sent["CreateTrainingJob"]
    assert req["AlgorithmSpecification"]["TrainingImage"] == HF_TRAINING_GPU
    hps = req["HyperParameters"]
    assert hps["sagemaker_program"] == '"hf_text.py"'
    assert hps["model"] == '"distilbert-base-uncased"'  # loaded pretrained in the job
    assert hps["max_seq_length"] == "256"
    assert req["EnableManagedSpotTraining"] is True and "CheckpointConfig" in req
    with tarfile.open(fileobj=io.BytesIO(read_s3(result["source_dir"])), mode="r:gz") as tar:
        assert {"hf_text.py", "labctl/entrypoints/text_classifier.py"} <= set(tar.getnames())
    # its model is served by the Hugging Face inference image, cpu or gpu
    assert scriptmode.inference_image("huggingface", "us-east-1", "ml.c5.xlarge") == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:"
        "2.6.0-transformers4.51.3-cpu-py312-ubuntu22.04"
    )


@pytest.mark.aws
def test_the_endpoint_serves_the_distributed_model_with_hf_text(
    tmp_path: Path,
    infra,  # noqa: F811
) -> None:
    from test_aws import make_ctx
    from test_aws_scriptmode import backend_capturing, put_model, record_data

    ctx = make_ctx(tmp_path, "distributed-training-inference", infra)
    record_data(ctx, "reviews-data", infra["bucket"])
    backend, sent = backend_capturing()
    for name in ("train-distributed", "endpoint"):
        step = ctx.lab.step(name)
        ctx.record(step, backend.run_step(step, ctx))
        if name == "train-distributed":
            put_model(ctx.results[name]["model_artifact"], b"weights")

    [model] = sent["CreateModel"]
    container = model["PrimaryContainer"]
    # ml.g4dn.xlarge: the gpu build of the Hugging Face inference image
    assert container["Image"].startswith(
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:"
    )
    assert "-gpu-" in container["Image"]
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "hf_text.py"
    [config] = sent["CreateEndpointConfig"]
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.g4dn.xlarge"
