"""Both Databricks labs for real on the local target: Spark in local mode, MLflow on SQLite.

The real CLI in a subprocess, the real terraform (null provider), a real local Spark session and
model server. Rows are few and the Spark GBT is shortened (a copy of labs.yaml with max_iter 5,
cv_folds 2) so the file stays near a minute and a half; bench/spark_local.py runs the lab as
written on 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import pytest

from labctl import paths

pytest.importorskip("pyspark")
pytest.importorskip("mlflow")

pytestmark = [pytest.mark.local, pytest.mark.databricks, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_catalog(tmp_path, monkeypatch):
    text = (REPO / "labs.yaml").read_text()
    spark_hps = "label: fare_amount, max_iter: 50, max_depth: 6, step_size: 0.1"
    assert spark_hps in text
    text = text.replace(spark_hps, "label: fare_amount, max_iter: 5, max_depth: 3, step_size: 0.3")
    text = text.replace(
        "subsampling_rate: 0.8, cv_folds: 3}", "subsampling_rate: 0.8, cv_folds: 2}"
    )
    path = tmp_path / "labs.yaml"
    path.write_text(text)
    monkeypatch.setenv("LABCTL_CATALOG", str(path))
    return path


def _runs(db: Path) -> dict[str, dict]:
    """MLflow runs in the lab's SQLite store: run id -> name, status, metrics."""
    with sqlite3.connect(db) as conn:
        runs = {
            rid: {"name": name, "status": status, "metrics": {}}
            for rid, name, status in conn.execute("SELECT run_uuid, name, status FROM runs")
        }
        for rid, key, value in conn.execute("SELECT run_uuid, key, value FROM latest_metrics"):
            runs[rid]["metrics"][key] = value
    return runs


def test_distributed_tuning_on_local_spark(cli, small_catalog, home):
    up = cli("up", "distributed-tuning", "--target", "local", "--rows", "3000", "--trials", "2",
             "--json")  # fmt: skip
    assert up.code == 0, up.stderr[-3000:]
    steps = up.json()["steps"]
    spark = steps["train-distributed"]
    assert spark["entry_point"] == "labctl.entrypoints.taxi_fare_spark"
    assert spark["metrics"]["validation:rmse"] < 15 and "cv:rmse" in spark["metrics"]
    assert (Path(spark["model_dir"]) / "spark-model" / "metadata").is_dir()
    tracking = spark["tracking"]
    assert tracking["registered_model"] == {"name": "taxi_fare_gbt", "version": "1"}
    assert steps["hyperopt-tune"]["trials"] == 2
    assert steps["mlflow-tracking"]["experiment"] == "distributed-tuning"

    status = cli("status", "--json")
    assert status.code == 0, status.stderr
    (view,) = status.json()
    assert view["metrics"]["train-distributed"]["validation:rmse"] == pytest.approx(
        spark["metrics"]["validation:rmse"]
    )
    if "tracking" in view:  # labctl.status passes the steps' MLflow runs through
        assert view["tracking"]["train-distributed"]["mlflow_run_id"] == tracking["mlflow_run_id"]
    table = cli("status")
    [row] = [line for line in table.stdout.splitlines() if line.startswith("distributed-tuning")]
    assert table.code == 0 and row.split()[2] == "local"  # piped: plain columns, one row per line

    # The MLflow run is in the lab's SQLite store, with its metrics; trials tracked too.
    workspace = paths.workspace("tester@example.com", "distributed-tuning", "local")
    runs = _runs(workspace / "mlflow.db")
    run = runs[tracking["mlflow_run_id"]]
    assert run["status"] == "FINISHED" and run["name"] == "taxi-fare-spark-gbt"
    assert run["metrics"]["validation_rmse"] == pytest.approx(spark["metrics"]["validation:rmse"])
    assert sum(r["name"] == "taxi-fare-single-node" for r in runs.values()) == 3  # train + 2 trials

    down = cli("down", "distributed-tuning", "--yes")
    assert down.code == 0, down.stderr
    assert cli("status", "--json").json() == []


def test_feature_store_pipeline_on_local(cli, home):
    up = cli("up", "feature-store-pipeline", "--target", "local", "--rows", "4000", "--json")
    assert up.code == 0, up.stderr[-3000:]
    steps = up.json()["steps"]
    dlt = steps["dlt-features"]
    assert dlt["expectations"]["dropped"]["valid_customer"] > 0
    assert dlt["tables"]["silver_transactions"] < dlt["tables"]["bronze_transactions"]
    tables = steps["feature-store"]["tables"]
    assert set(tables) == {"customer_features", "product_features"}
    customer = tables["customer_features"]
    assert customer["primary_keys"] == ["customer_id"] and customer["timestamp_keys"] == [
        "event_ts"
    ]
    assert Path(customer["dir"], "part-0.parquet").is_file()
    assert "bucket/feature-store/customer_features" in customer["dir"]
    registry = steps["model-registry"]
    assert registry["model_name"] == "ecommerce_propensity" and registry["version"] == "1"
    assert (
        registry["tracking"]["mlflow_run_id"]
        == steps["train-propensity"]["tracking"]["mlflow_run_id"]
    )
    assert steps["train-propensity"]["metrics"]["validation:auc"] > 0.5

    status = cli("status", "--json")
    (view,) = status.json()
    (endpoint,) = [r for r in view["resources"] if r["kind"] == "endpoint"]
    assert endpoint["status"] == "InService"
    features = ",".join(["35", "400", "3", "45.5", "59.9", "2", "4.3", "20", "0", "4", "10"])
    invoked = cli("invoke", "feature-store-pipeline", input=features + "\n")
    assert invoked.code == 0, invoked.stderr
    (probability,) = json.loads(invoked.stdout)["predictions"]
    assert 0.0 <= probability <= 1.0

    workspace = paths.workspace("tester@example.com", "feature-store-pipeline", "local")
    with sqlite3.connect(workspace / "mlflow.db") as conn:
        aliases = dict(conn.execute("SELECT alias, version FROM registered_model_aliases"))
    assert aliases == {"challenger": 1, "champion": 1}

    down = cli("down", "feature-store-pipeline", "--yes")
    assert down.code == 0, down.stderr


def test_the_cluster_launcher_on_local_spark(tmp_path, monkeypatch):
    """What a Databricks job runs (`labctl_job.py`), for real on a local Spark session: data,
    train under the contract, and tuning trials fanned out as parallel Spark tasks."""
    from labctl.backends.databricks import job
    from labctl.entrypoints.taxi_fare_spark import spark_session

    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the executors import labctl (uploaded there)
    data, best = tmp_path / "data", tmp_path / "best"
    made = job.cmd_data(
        argparse.Namespace(
            generator="nyc-taxi-trips", rows=3000, seed=1, validation_fraction=0.2, out=str(data)
        )
    )
    assert made["rows"] == 3000
    spec = {
        "objective": "validation:rmse", "goal": "minimize", "strategy": "bayesian",
        "max_jobs": 2, "parallelism": 2,
        "ranges": {"max_depth": {"type": "integer", "min": 3, "max": 8}},
    }  # fmt: skip
    args = argparse.Namespace(entry_point="taxi_fare", job="tune", data=str(data), out=str(best),
                              hps=json.dumps({"max_iter": 20}), spec=json.dumps(spec))  # fmt: skip
    spark = spark_session("labctl-launcher-test")
    try:
        result = job.cmd_tune(args, spark)
    finally:
        spark.stop()
    assert result["completed"] == 2 and result["trials"] == 2
    assert 3 <= result["best_hyperparameters"]["max_depth"] <= 8
    assert (best / "model.joblib").is_file()  # the best trial refit on the driver
