"""The three Google labs on the embedded local target: up, invoke the endpoint, down.

Their local analogues run through the same local steps as every lab: generated data, the
BigQuery analogue (Parquet tables, pandas features, a seasonal-naive forecast), the entry points
in subprocesses, a real model server.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.local, pytest.mark.gcp]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_up(cli):
    yield
    cli("down", "--all", "--yes")


def up(cli, lab: str, rows: int) -> dict:
    result = cli(
        "up",
        lab,
        "--target",
        "local",
        "--rows",
        str(rows),
        "--json",
        env={"LABCTL_CATALOG": str(REPO / "labs.yaml")},
    )
    assert result.code == 0, result.stderr[-3000:] + result.stdout[-2000:]
    return result.json()


def invoke(cli, lab: str, tmp_path: Path, body: str, content_type: str) -> dict:
    data = tmp_path / "records"
    data.write_text(body)
    result = cli(
        "invoke",
        lab,
        "--data",
        str(data),
        "--content-type",
        content_type,
        env={"LABCTL_CATALOG": str(REPO / "labs.yaml")},
    )
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def down(cli, lab: str) -> None:
    result = cli("down", lab, "--yes", env={"LABCTL_CATALOG": str(REPO / "labs.yaml")})
    assert result.code == 0, result.stderr
    status = cli("status", "--json")
    assert status.code == 0 and not status.json()


def test_movie_recommender_local(cli, tmp_path):
    out = up(cli, "movie-recommender", 6000)
    steps = out["steps"]
    assert steps["bigquery-load"]["table_rows"]["ratings"] == 6000
    assert Path(steps["bqml-features"]["table"]).is_file()
    assert "ML.STANDARD_SCALER" in steps["bqml-features"]["transforms"]
    rmse = [
        steps[s]["metrics"]["validation:rmse"]
        for s in ("train-recommender", "train-recommender-v2")
    ]
    assert all(0.3 < r < 1.2 for r in rmse), rmse
    preds = invoke(cli, "movie-recommender", tmp_path, "1,1\n2,3\n", "text/csv")["predictions"]
    assert len(preds) == 2 and all(1.0 <= p <= 5.0 for p in preds)
    down(cli, "movie-recommender")


def test_image_classification_local(cli, tmp_path, home):
    out = up(cli, "image-classification", 1200)
    steps = out["steps"]
    assert steps["train-automl"]["metrics"]["validation:accuracy"] > 0.5
    assert steps["train-custom"]["metrics"]["validation:accuracy"] > 0.5
    assert (
        steps["batch-predict"]["records"] == out["steps"]["dog-images"]["schema"]["validation_rows"]
    )
    images = np.load(Path(steps["dog-images"]["dir"]) / "validation" / "images.npz")
    body = json.dumps({"instances": images["x"][:2].tolist()})
    preds = invoke(cli, "image-classification", tmp_path, body, "application/json")
    assert len(preds["predictions"]) == 2
    assert all(p["label"] and 0 <= p["score"] <= 1 for p in preds["predictions"])
    down(cli, "image-classification")


def test_sales_forecasting_local(cli, tmp_path):
    out = up(cli, "sales-forecasting", 15000)
    steps = out["steps"]
    assert set(steps["bigquery-ingest"]["tables"]) == {
        "train",
        "stores",
        "oil",
        "holidays_events",
        "transactions",
    }
    assert "lag_28" in steps["time-series-features"]["features"]
    assert steps["bqml-forecast"]["metrics"]["bqml:rmsle"] > 0
    assert steps["train-forecaster"]["metrics"]["validation:rmsle"] < 3
    flow = steps["streaming-features"]
    if importlib.util.find_spec("apache_beam") is None:
        assert "labctl[beam]" in flow["skipped"]
    else:  # the Beam pipeline ran on the DirectRunner: one row per series and day
        events = len(Path(flow["input"]).read_text().splitlines()) - 1  # daily sales rows
        assert flow["runner"] == "DirectRunner" and flow["outputs"]["1440m"]["rows"] == events
        assert Path(flow["outputs"]["60m"]["file"]).is_file()
    retrain = steps["weekly-retrain"]  # one run of the pipeline: its steps again, in order
    assert retrain["order"] == [
        "time-series-features", "bqml-forecast", "train-forecaster", "forecast-endpoint"
    ]  # fmt: skip
    assert retrain["runs"]["train-forecaster"]["metrics"]["validation:rmsle"] < 3
    drift = json.loads(Path(steps["forecast-monitor"]["drift"]["report"]).read_text())
    assert set(drift["features"]) == set(steps["store-sales-data"]["schema"]["features"])
    status = cli("status", "--json", env={"LABCTL_CATALOG": str(REPO / "labs.yaml")}).json()
    (run,) = [r for r in status if r["lab"] == "sales-forecasting"]
    assert "drift" in run["outputs"]["forecast-monitor"]
    if "runner" in flow:
        assert run["outputs"]["streaming-features"] == flow["outputs"]
    schema = steps["store-sales-data"]["schema"]
    row = np.loadtxt(
        Path(steps["store-sales-data"]["dir"]) / "validation" / "sales.csv",
        delimiter=",",
        max_rows=1,
    )
    assert len(row) == len(schema["features"]) + 1
    features = ",".join(repr(float(v)) for v in row[1:])
    preds = invoke(cli, "sales-forecasting", tmp_path, features + "\n", "text/csv")
    assert len(preds["predictions"]) == 1 and preds["predictions"][0] >= 0
    down(cli, "sales-forecasting")
