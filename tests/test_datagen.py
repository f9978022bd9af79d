"""The synthetic dataset generators: files, shapes, conventions, determinism, marginals."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest

from labctl import datagen
from labctl.datagen import tabular
from labctl.errors import UsageError

CHURN_COLUMNS = (
    "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,"
    "InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,"
    "StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn"
).split(",")


def _matrix(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", ndmin=2)


def test_churn_files_shapes_and_conventions(tmp_path: Path) -> None:
    schema = datagen.generate("telco-churn", rows=2000, seed=3, out_dir=tmp_path)
    assert json.loads((tmp_path / "schema.json").read_text()) == schema
    assert schema["label"] == "Churn" and schema["content_type"] == "text/csv"

    with (tmp_path / "raw" / "telco-churn.csv").open() as fh:
        raw = list(csv.reader(fh))
    assert raw[0] == CHURN_COLUMNS
    assert len(raw) == 2001
    assert {r[-1] for r in raw[1:]} == {"Yes", "No"}
    assert {r[15] for r in raw[1:]} == {"Month-to-month", "One year", "Two year"}

    train = _matrix(tmp_path / "train" / "telco-churn.csv")
    val = _matrix(tmp_path / "validation" / "telco-churn.csv")
    assert len(train) + len(val) == 2000
    assert len(val) == pytest.approx(400, abs=2)
    # no header, label first, then exactly the schema's features, all numeric
    assert train.shape[1] == val.shape[1] == 1 + len(schema["features"])
    assert set(np.unique(train[:, 0])) == {0.0, 1.0}
    assert "InternetService_Fiber optic" in schema["features"]
    tenure = schema["features"].index("tenure") + 1
    assert train[:, tenure].min() >= 0 and train[:, tenure].max() <= 72
    # one-hot blocks sum to one per row
    contract = [i + 1 for i, f in enumerate(schema["features"]) if f.startswith("Contract_")]
    assert np.all(train[:, contract].sum(axis=1) == 1)


def test_churn_rate_is_realistic(tmp_path: Path) -> None:
    schema = datagen.generate("telco-churn", rows=20_000, seed=11, out_dir=tmp_path)
    assert 0.22 <= schema["positive_rate"] <= 0.30


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    for name in sorted(n for n, m in datagen.MODULES.items() if m == "labctl.datagen.tabular"):
        a = datagen.generate(name, rows=500, seed=5, out_dir=tmp_path / "a")
        datagen.generate(name, rows=500, seed=5, out_dir=tmp_path / "b")
        datagen.generate(name, rows=500, seed=6, out_dir=tmp_path / "c")
        for key in ("raw", "train", "validation"):
            rel = a["files"][key]
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
            assert (tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes()


def test_fraud_shape_and_minimum_count(tmp_path: Path) -> None:
    schema = datagen.generate("credit-card-fraud", rows=2000, seed=1, out_dir=tmp_path)
    header = (tmp_path / "raw" / "creditcard.csv").read_text().splitlines()[0].split(",")
    assert header == ["Time", *(f"V{i}" for i in range(1, 29)), "Amount", "Class"]
    assert schema["features"] == header[:-1]
    train = _matrix(tmp_path / "train" / "creditcard.csv")
    val = _matrix(tmp_path / "validation" / "creditcard.csv")
    assert train.shape[1] == val.shape[1] == 31
    # 0.17% of 2,000 is 3.4: the minimum count still puts frauds in both channels
    assert val[:, 0].sum() >= 1 and train[:, 0].sum() >= 1
    assert train[:, 0].sum() + val[:, 0].sum() == tabular.MIN_FRAUD
    # the default rate holds for a large file
    big = datagen.generate("credit-card-fraud", rows=30_000, seed=1, out_dir=tmp_path / "big")
    assert big["positive_rate"] == pytest.approx(0.0017, abs=0.0002)


def test_newsgroups_blazingtext_format(tmp_path: Path) -> None:
    schema = datagen.generate("newsgroups-text", rows=1000, seed=2, out_dir=tmp_path)
    assert schema["content_type"] == "text/plain"
    assert len(schema["classes"]) == 8 and "sci.space" in schema["classes"]
    lines = (tmp_path / "train" / "newsgroups.txt").read_text().splitlines()
    lines += (tmp_path / "validation" / "newsgroups.txt").read_text().splitlines()
    assert len(lines) == 1000
    for line in lines:
        label, *tokens = line.split(" ")
        assert label.startswith("__label__") and label[9:] in schema["classes"]
        assert 20 <= len(tokens) <= 120
    raw = (tmp_path / "raw" / "newsgroups.csv").read_text().splitlines()
    assert raw[0] == "newsgroup,text" and len(raw) == 1001


def test_bank_marketing_shape_and_rate(tmp_path: Path) -> None:
    schema = datagen.generate("bank-marketing", rows=20_000, seed=3, out_dir=tmp_path)
    header = (tmp_path / schema["files"]["raw"]).read_text().splitlines()[0].split(",")
    assert header[-1] == "y" and len(header) == 17  # bank-full.csv's columns
    assert 0.09 <= schema["positive_rate"] <= 0.14  # the real file: 11.7 % subscribe
    first = (tmp_path / schema["files"]["train"]).read_text().splitlines()[0].split(",")
    assert first[0] in ("0", "1") and len(first) == 1 + len(schema["features"])


def test_reviews_polarity_is_learnable_but_not_trivial(tmp_path: Path) -> None:
    schema = datagen.generate("amazon-reviews-text", rows=4_000, seed=3, out_dir=tmp_path)
    assert schema["classes"] == ["negative", "positive"]
    lines = (tmp_path / schema["files"]["train"]).read_text().splitlines()
    positive = {"great", "love", "excellent", "perfect", "works", "recommend"}
    hits = [
        (line.startswith("__label__positive"), bool(positive & set(line.split()))) for line in lines
    ]
    agree = sum(label == seen for label, seen in hits) / len(hits)
    assert 0.6 < agree < 0.97, agree  # sentiment words tell, but not always


def test_unknown_generator_suggests(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="did you mean 'telco-churn'"):
        datagen.generate("telco-chrun", rows=100, seed=0, out_dir=tmp_path)


@pytest.mark.parametrize(
    "name", ["movielens-interactions", "synthetic-images", "store-sales", "nyc-taxi-trips"]
)
def test_a_generator_without_options_names_the_ones_given(name: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"takes no options \(got \['skew'\]\)"):
        datagen.generate(name, rows=100, seed=0, out_dir=tmp_path, skew=2)


def test_100k_churn_rows_is_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    datagen.generate("telco-churn", rows=100_000, seed=0, out_dir=tmp_path)
    # budget is 2 s; margin for a loaded CI machine
    assert time.perf_counter() - start < 4.0
