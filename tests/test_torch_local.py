"""The PyTorch labs on the local target: N-rank jobs, the telemetry data, the torch entry points.

The launcher and generator tests run everywhere; the entry-point tests need PyTorch
(`pip install 'labctl[torch]'`) and are skipped without it, and marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from labctl import datagen
from labctl.backends.local import training
from labctl.catalog import TrainStep
from labctl.entrypoints import contract

REPO = Path(__file__).resolve().parents[1]


def run_job(
    module: str, data: Path, job: Path, hps: dict, *, count: int = 1, pythonpath: str = ""
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `module` as the local backend runs a job of `count` instances; (process, seconds)."""
    env = contract.prepare_job_dir(
        job, {c: data / c for c in ("train", "validation")}, hps, instance_count=count
    )
    path = os.pathsep.join(p for p in (str(REPO), pythonpath) if p)
    started = time.monotonic()
    proc = subprocess.run(
        training.command(module, f"job-test-{job.name}", count),
        cwd=job,
        env={**os.environ, **env, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc, time.monotonic() - started


def rank0_metrics(stdout: str) -> list[tuple[str, float, int | None]]:
    """The metrics the backend reads from a job's log (rank 0's lines in a multi-rank job)."""
    lines = (line.strip().removeprefix(training.RANK0) for line in stdout.splitlines())
    return [m for m in map(contract.parse_metric_line, lines) if m]


def step(algorithm: str, count: int, entry_point: str | None = None) -> TrainStep:
    return TrainStep(
        name="train",
        kind="train",
        algorithm=algorithm,
        entry_point=entry_point,
        data="data",
        instance_type="ml.m5.xlarge",
        instance_count=count,
        metric={"name": "validation:accuracy"},
    )


# --------------------------------------------------------------------------- launcher


def test_framework_steps_run_one_process_per_instance() -> None:
    assert training.processes(step("pytorch", 2, "text_classifier")) == 2
    assert training.processes(step("huggingface", 3, "hf_text")) == 3
    assert training.processes(step("pytorch", 1, "text_classifier")) == 1
    # Spark and built-in algorithms parallelise inside their one process
    assert training.processes(step("spark-mllib", 4, "taxi_fare_spark")) == 1
    assert training.processes(step("xgboost", 2)) == 1


def test_local_check_names_the_extra_a_hugging_face_step_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from labctl import catalog
    from labctl.backends.local import backend

    lab = catalog.load(REPO / "labs.yaml").lab("distributed-training-inference")
    monkeypatch.setattr(backend, "has_module", lambda name: name != "transformers")
    fatal = {f.step: f.reason for f in backend.LocalBackend().check(lab) if f.fatal}
    assert set(fatal) == {"train-baseline", "train-distributed"}
    assert fatal["train-distributed"] == (
        "needs PyTorch and transformers: pip install 'labctl[torch]'"
    )
    monkeypatch.setattr(backend, "has_module", lambda name: True)
    assert not [f for f in backend.LocalBackend().check(lab) if f.fatal]


PROBE = """
import json, os, sys, time
keys = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SM_CURRENT_HOST",
        "SM_HOSTS", "SM_NUM_GPUS", "SM_CHANNEL_TRAIN")
print(json.dumps({k: os.environ.get(k) for k in keys}), flush=True)
if os.environ.get("FAIL_RANK") == os.environ["RANK"]:
    sys.exit(3)
if os.environ.get("FAIL_RANK"):
    time.sleep(120)  # a rank waiting in a collective for the one that failed
"""


@pytest.fixture
def probe(tmp_path: Path) -> str:
    (tmp_path / "probe_mod.py").write_text(PROBE)
    return str(tmp_path)


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "reviews"
    datagen.generate("amazon-reviews-text", rows=2000, seed=3, out_dir=out)
    return out


def test_ranks_get_the_distributed_environment(tmp_path: Path, probe: str, reviews: Path) -> None:
    proc, _ = run_job("probe_mod", reviews, tmp_path / "job", {}, count=2, pythonpath=probe)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    envs = {}
    for line in proc.stdout.splitlines():
        prefix, _, text = line.partition(" ")
        envs[prefix] = json.loads(text)
    assert set(envs) == {"[rank0]", "[rank1]"}
    r0, r1 = envs["[rank0]"], envs["[rank1]"]
    assert (r0["RANK"], r1["RANK"]) == ("0", "1")
    assert r0["WORLD_SIZE"] == r1["WORLD_SIZE"] == "2"
    assert r0["MASTER_ADDR"] == "127.0.0.1" and r0["MASTER_PORT"] == r1["MASTER_PORT"]
    assert (r0["SM_CURRENT_HOST"], r1["SM_CURRENT_HOST"]) == ("algo-1", "algo-2")
    assert json.loads(r0["SM_HOSTS"]) == ["algo-1", "algo-2"]
    assert r0["SM_NUM_GPUS"] == "0" and r0["LOCAL_RANK"] == "0"
    assert r0["SM_CHANNEL_TRAIN"] == r1["SM_CHANNEL_TRAIN"]  # the ranks share the data


def test_a_failing_rank_stops_the_others(
    tmp_path: Path, probe: str, reviews: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_RANK", "1")
    proc, seconds = run_job("probe_mod", reviews, tmp_path / "job", {}, count=2, pythonpath=probe)
    assert proc.returncode == 3
    assert seconds < 60  # rank 0 was stopped, not waited for


NO_TORCH = """
import sys

class NoTorch:  # as if PyTorch were not installed
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoTorch())
"""


def test_distributed_text_classifier_without_torch_trains_once_on_rank_0(
    tmp_path: Path, reviews: Path
) -> None:
    no_torch = tmp_path / "no_torch"
    no_torch.mkdir()
    (no_torch / "sitecustomize.py").write_text(NO_TORCH)
    hps = {"distribution": "torch_distributed", "epochs": 2, "min_count": 2}
    proc, _ = run_job(
        "labctl.entrypoints.text_classifier",
        reviews,
        tmp_path / "job",
        hps,
        count=2,
        pythonpath=str(no_torch),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[rank1] rank 1/2: PyTorch is not installed: rank 0 trains alone" in proc.stdout
    assert "[rank0] rank 0/2: distribution is set but PyTorch is not installed" in proc.stdout
    assert "validation:accuracy" in {n for n, _, _ in rank0_metrics(proc.stdout)}
    assert sorted(p.name for p in (tmp_path / "job" / "model").iterdir()) == ["model.joblib"]


# --------------------------------------------------------------------------- telemetry data


def test_telemetry_generator(tmp_path: Path) -> None:
    schema = datagen.generate("iot-sensor-telemetry", rows=6000, seed=5, out_dir=tmp_path / "a")
    again = datagen.generate("iot-sensor-telemetry", rows=6000, seed=5, out_dir=tmp_path / "b")
    assert schema == again
    for name in ("raw", "train", "validation"):
        text = (tmp_path / "a" / schema["files"][name]).read_text()
        assert text == (tmp_path / "b" / schema["files"][name]).read_text()
    train = np.loadtxt(tmp_path / "a" / schema["files"]["train"], delimiter=",")
    val = np.loadtxt(tmp_path / "a" / schema["files"]["validation"], delimiter=",")
    assert train.shape == (schema["train_rows"], 1 + len(schema["features"]))
    assert len(train) + len(val) == 6000 and len(val) == 1200
    assert 0.005 < schema["positive_rate"] < 0.06
    # anomalies stand out in their windowed deviations
    normal = train[:, 0] == 0
    z = np.abs(train[:, 6:] / train[normal, 6:].std(axis=0)).max(axis=1)
    assert z[~normal].mean() > 2 * z[normal].mean()
    raw_header = (tmp_path / "a" / "raw" / "telemetry.csv").read_text().splitlines()[0]
    assert raw_header.startswith("device_id,ts,temperature_c")


# --------------------------------------------------------------------------- PyTorch entry points


@pytest.mark.slow
def test_text_classifier_trains_data_parallel_on_two_ranks(tmp_path: Path, reviews: Path) -> None:
    pytest.importorskip("torch")
    hps = {
        "distribution": "torch_distributed",
        "model": "distilbert-base-uncased",  # not downloaded: a bag-of-words model instead
        "learning_rate": 0.0002,  # the transformer's fine-tuning rate: local_learning_rate used
        "epochs": 2,
        "seed": 1,
    }
    proc, _ = run_job("labctl.entrypoints.text_classifier", reviews, tmp_path / "job", hps, count=2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for rank in (0, 1):
        assert f"[rank{rank}] rank {rank}/2: joined the gloo process group" in out
        assert f"[rank{rank}] rank {rank}/2: 800 of 1600 documents per epoch" in out
    assert out.count("saved model.pt") == 1 and "[rank0] rank 0/2: saved model.pt" in out
    assert out.count("is not downloaded locally") == 1
    metrics = rank0_metrics(out)
    assert [s for n, _, s in metrics if n == "validation:accuracy"] == [1, 2, None]
    assert all(s is not None for n, _, s in metrics if n == "train:epoch_seconds")
    final = json.loads((tmp_path / "job" / "output" / "data" / "metrics.json").read_text())
    assert final["validation:accuracy"] > 0.8
    assert sorted(p.name for p in (tmp_path / "job" / "model").iterdir()) == ["model.pt"]

    from labctl.entrypoints import text_classifier as tc

    model = tc.model_fn(str(tmp_path / "job" / "model"))
    body = json.dumps({"instances": ["great product works perfectly", "broke after a day"]})
    out_body, _ = tc.output_fn(tc.predict_fn(tc.input_fn(body.encode(), ""), model), "")
    predictions = json.loads(out_body)
    assert len(predictions) == 2 and all(p["label"][0].startswith("__label__") for p in predictions)


@pytest.mark.slow
def test_sensor_anomaly_trains_prunes_quantizes_and_serves(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    data = tmp_path / "telemetry"
    datagen.generate("iot-sensor-telemetry", rows=8000, seed=2, out_dir=data)
    hps = {"epochs": 8, "pruning_sparsity": 0.5, "quantization": "int8", "window": 60}
    proc, _ = run_job("labctl.entrypoints.sensor_anomaly", data, tmp_path / "job", hps)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = {n: v for n, v, s in rank0_metrics(proc.stdout) if s is None}
    assert metrics["validation:auc"] > 0.85

    from labctl.entrypoints import sensor_anomaly as sa

    model = sa.model_fn(str(tmp_path / "job" / "model"))
    val = np.loadtxt(data / "validation" / "telemetry.csv", delimiter=",")
    normal, anomalous = val[val[:, 0] == 0][:20, 1:], val[val[:, 0] == 1][:20, 1:]
    scores = sa.predict_fn(np.vstack([normal, anomalous]).astype(np.float32), model)
    assert np.median(scores[20:]) > np.median(scores[:20])
    with pytest.raises(ValueError, match="expected 10 features"):
        sa.predict_fn(normal[:, :5], model)


# --------------------------------------------------------------------------- the lab end to end


@pytest.mark.local
@pytest.mark.slow
def test_distributed_training_inference_runs_two_ranks_and_serves(cli, home) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    lab = "distributed-training-inference"
    # Two classes (positive, negative): chance is 0.5, TF-IDF + a linear model reaches ~0.9.
    # The tiny DistilBERT from random weights reaches ~0.9 in its 100 local steps.
    bar = 0.8
    try:
        up = cli("up", lab, "--rows", "4000", "--json")
        assert up.code == 0, up.stderr
        steps = up.json()["steps"]
        trained = steps["train-distributed"]
        assert trained["metrics"]["validation:accuracy"] > bar
        assert steps["train-baseline"]["metrics"]["validation:accuracy"] > bar
        log = Path(trained["model_dir"]).parents[2] / "jobs" / trained["job"] / "output" / "log.txt"
        text = log.read_text()
        assert "[rank0] rank 0/2: joined the gloo process group" in text
        assert "[rank1] rank 1/2: joined the gloo process group" in text
        assert "[rank0] rank 0/2: 1600 of 3200 documents per epoch" in text
        assert "a 2-layer DistilBERT of width 64 built from a config" in text  # hf_text, offline
        assert {p.name for p in Path(trained["model_dir"]).iterdir()} == {
            "config.json",
            "labels.json",
            "model.safetensors",
        }
        runs = cli("status", "--json").json()
        assert runs[0]["metrics"]["train-distributed"]["validation:accuracy"] > bar
        body = json.dumps({"instances": ["great product, works perfectly"]})
        invoked = cli("invoke", lab, input=body)
        assert invoked.code == 0, invoked.stderr
        assert json.loads(invoked.stdout)[0]["label"][0].startswith("__label__")
    finally:
        assert cli("down", lab, "--yes").code == 0
