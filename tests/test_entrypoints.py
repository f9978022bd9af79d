"""Training entry points run as real subprocesses through the SageMaker job-directory contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labctl import datagen
from labctl.entrypoints import contract

REPO = Path(__file__).resolve().parents[1]


def run_job(
    ep: str, data: Path, job: Path, hps: dict, channels: tuple[str, ...] = ("train", "validation")
) -> tuple[subprocess.CompletedProcess[str], Path]:
    env = contract.prepare_job_dir(job, {c: data / c for c in channels}, hps)
    proc = subprocess.run(
        [sys.executable, "-m", f"labctl.entrypoints.{ep}"],
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc, job


def metric_lines(stdout: str) -> list[tuple[str, float, int | None]]:
    return [m for m in map(contract.parse_metric_line, stdout.splitlines()) if m]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    datagen.generate("telco-churn", rows=4000, seed=1, out_dir=root / "churn")
    datagen.generate(
        "credit-card-fraud", rows=5000, seed=1, out_dir=root / "fraud", fraud_rate=0.02
    )
    datagen.generate("newsgroups-text", rows=3000, seed=1, out_dir=root / "text")
    return {"churn": root / "churn", "fraud": root / "fraud", "text": root / "text"}


# --------------------------------------------------------------------------- contract


def test_prepare_job_dir_layout_and_env(tmp_path: Path, datasets: dict[str, Path]) -> None:
    hps = {"num_round": 5, "eta": 0.1, "verbose": True, "name": "x"}
    env = contract.prepare_job_dir(tmp_path / "job", {"train": datasets["churn"] / "train"}, hps)
    job = tmp_path / "job"
    written = json.loads((job / "input/config/hyperparameters.json").read_text())
    assert written == {"num_round": "5", "eta": "0.1", "verbose": "true", "name": "x"}
    assert json.loads(env["SM_HPS"]) == written
    assert json.loads((job / "input/config/resourceconfig.json").read_text())["hosts"] == ["algo-1"]
    assert (job / "input/data/train/telco-churn.csv").is_file()
    assert env["SM_CHANNEL_TRAIN"] == str(job / "input/data/train")
    assert json.loads(env["SM_CHANNELS"]) == ["train"]
    assert env["SM_MODEL_DIR"] == str(job / "model") and (job / "model").is_dir()
    assert (job / "output/data").is_dir()


def test_metric_line_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    contract.emit_metric("validation:auc", 0.8125, step=10)
    contract.emit_metric("train:loss", float("nan"))
    contract.emit_metric("x-y.z", 1e-7)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "#metric validation:auc=0.8125 step=10"
    assert contract.parse_metric_line(out[0]) == ("validation:auc", 0.8125, 10)
    name, value, step = contract.parse_metric_line(out[1])
    assert name == "train:loss" and np.isnan(value) and step is None
    assert contract.parse_metric_line(out[2]) == ("x-y.z", 1e-7, None)
    assert contract.parse_metric_line("[10] validation-auc:0.8") is None
    with pytest.raises(ValueError):
        contract.emit_metric("bad name", 1.0)


def test_hyperparameter_getters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_HPS", json.dumps({"a": "10", "b": "0.5", "c": "yes", "d": "x"}))
    assert contract.hp_int("a") == 10 and contract.hp_float("b") == 0.5
    assert contract.hp_bool("c") is True and contract.hp_int("missing", 3) == 3
    with pytest.raises(contract.HyperparameterError, match="not a valid int"):
        contract.hp_int("d")
    with pytest.raises(contract.HyperparameterError, match="outside"):
        contract.hp_float("b", low=1.0)
    with pytest.raises(contract.HyperparameterError, match="required"):
        contract.hp_str("missing")


# --------------------------------------------------------------------------- entry points


def test_xgboost_trains_and_streams_metrics(tmp_path: Path, datasets: dict[str, Path]) -> None:
    hps = {"num_round": 40, "max_depth": 4, "eta": 0.2, "subsample": 0.8}
    proc, job = run_job("xgboost_tabular", datasets["churn"], tmp_path / "job", hps)
    assert proc.returncode == 0, proc.stderr
    assert (job / "model" / "xgboost-model").stat().st_size > 1000
    metrics = json.loads((job / "output/data/metrics.json").read_text())
    assert 0.75 <= metrics["validation:auc"] <= 0.92
    assert metrics["train:auc"] > metrics["validation:auc"]
    lines = metric_lines(proc.stdout)
    steps = [s for n, _, s in lines if n == "validation:auc" and s is not None]
    assert steps == [10, 20, 30, 40]
    assert ("validation:auc", metrics["validation:auc"], None) in lines


def test_xgboost_early_stopping(tmp_path: Path, datasets: dict[str, Path]) -> None:
    hps = {"num_round": 300, "eta": 0.5, "max_depth": 6, "early_stopping_rounds": 5}
    proc, job = run_job("xgboost_tabular", datasets["churn"], tmp_path / "job", hps)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((job / "output/data/metrics.json").read_text())
    assert metrics["num_round"] < 300


def test_xgboost_bad_hyperparameter_fails(tmp_path: Path, datasets: dict[str, Path]) -> None:
    proc, job = run_job("xgboost_tabular", datasets["churn"], tmp_path / "job", {"eta": "fast"})
    assert proc.returncode == 1
    assert "eta" in (job / "output" / "failure").read_text()
    assert not (job / "model" / "xgboost-model").exists()


def test_anomaly_trains_unsupervised(tmp_path: Path, datasets: dict[str, Path]) -> None:
    hps = {"num_trees": 100, "num_samples_per_tree": 256, "feature_dim": 30}
    proc, job = run_job("anomaly", datasets["fraud"], tmp_path / "job", hps)
    assert proc.returncode == 0, proc.stderr
    assert (job / "model" / "model.joblib").is_file()
    metrics = json.loads((job / "output/data/metrics.json").read_text())
    assert 0.85 < metrics["validation:auc"] < 1.0
    for name in ("precision", "recall", "f1"):
        assert 0.0 <= metrics[f"validation:{name}"] <= 1.0
    assert {n for n, _, _ in metric_lines(proc.stdout)} >= {"validation:auc", "validation:f1"}


def test_anomaly_wrong_feature_dim_fails(tmp_path: Path, datasets: dict[str, Path]) -> None:
    proc, job = run_job("anomaly", datasets["fraud"], tmp_path / "job", {"feature_dim": 29})
    assert proc.returncode == 1
    assert "feature_dim" in (job / "output" / "failure").read_text()


def test_text_classifier_trains(tmp_path: Path, datasets: dict[str, Path]) -> None:
    hps = {"mode": "supervised", "epochs": 5, "word_ngrams": 2, "vector_dim": 10}
    proc, job = run_job("text_classifier", datasets["text"], tmp_path / "job", hps)
    assert proc.returncode == 0, proc.stderr
    assert (job / "model" / "model.joblib").is_file()
    metrics = json.loads((job / "output/data/metrics.json").read_text())
    assert 0.8 <= metrics["validation:accuracy"] <= 0.99
    steps = [s for n, _, s in metric_lines(proc.stdout) if n == "validation:accuracy" and s]
    assert steps == [1, 2, 3, 4, 5]


def test_text_classifier_rejects_unsupervised_mode(
    tmp_path: Path, datasets: dict[str, Path]
) -> None:
    proc, job = run_job("text_classifier", datasets["text"], tmp_path / "job", {"mode": "cbow"})
    assert proc.returncode == 1
    assert "mode" in (job / "output" / "failure").read_text()
    assert "supervised" in (job / "output" / "failure").read_text()
