"""The Delta Live Tables pipeline file on a local Spark session (what the local target runs).

Small: 1,500 generated rows; one Spark session for the module, which `dlt_local.run` uses and
leaves running (it stops only a session it started).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from labctl import datagen
from labctl.pipelines import dlt_features, dlt_local

pytest.importorskip("pyspark")

pytestmark = [pytest.mark.local, pytest.mark.databricks, pytest.mark.slow]  # Spark: 30-50 s


@pytest.fixture(scope="module")
def spark():
    from labctl.entrypoints.taxi_fare_spark import spark_session

    session = spark_session("labctl-dlt-test")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def ran(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dlt")
    datagen.generate("ecommerce-transactions", rows=1500, seed=3, out_dir=folder / "data")
    bronze = folder / "data" / "raw" / "transactions.parquet"
    result = dlt_local.run(bronze, folder / "out")
    return SimpleNamespace(bronze=bronze, out=folder / "out", result=result)


def test_expectations_drop_what_the_rules_say(ran):
    raw = pd.read_parquet(ran.bronze)
    expected = {
        "valid_customer": int(raw["customer_id"].isna().sum()),
        "positive_price": int((~(raw["price"] > 0)).sum()),
        "non_negative_quantity": int((~(raw["quantity"] >= 0)).sum()),
    }
    assert ran.result["dropped"] == expected
    assert expected["valid_customer"] > 0  # the generator makes bad rows: the rules do work
    ok = raw["customer_id"].notna() & (raw["price"] > 0) & (raw["quantity"] >= 0)
    assert ran.result["tables"]["silver_transactions"] == int(ok.sum())
    assert ran.result["tables"]["bronze_transactions"] == len(raw)


def test_gold_tables_aggregate_the_silver_rows(ran):
    silver = pd.read_parquet(ran.result["dirs"]["silver_transactions"])
    customer = pd.read_parquet(ran.result["dirs"]["gold_daily_customer"])
    assert silver["customer_id"].dtype == "int64"
    assert customer["views"].sum() == len(silver)
    assert customer["purchases"].sum() == silver["purchased"].sum()
    assert customer["spend"].sum() == pytest.approx(silver["price"].sum())
    days = silver.assign(day=silver["event_ts"].dt.floor("D"))[["customer_id", "day"]]
    assert len(customer) == len(days.drop_duplicates())
    product = pd.read_parquet(ran.result["dirs"]["gold_daily_product"])
    assert product["views"].sum() == len(silver)


def test_every_table_is_a_delta_table(ran):
    for name, folder in ran.result["dirs"].items():
        log = Path(folder, "_delta_log", f"{0:020d}.json")
        actions = [json.loads(line) for line in log.read_text().splitlines()]
        meta = next(a["metaData"] for a in actions if "metaData" in a)
        fields = {f["name"]: f["type"] for f in json.loads(meta["schemaString"])["fields"]}
        adds = [a["add"] for a in actions if "add" in a]
        assert adds and all(Path(folder, a["path"]).stat().st_size == a["size"] for a in adds)
        assert {p.name for p in Path(folder).glob("*.parquet")} == {a["path"] for a in adds}
        assert list(pd.read_parquet(folder).columns) == list(fields), name
        protocol = next(a["protocol"] for a in actions if "protocol" in a)
        if "timestamp_ntz" in fields.values():
            assert protocol["readerFeatures"] == ["timestampNtz"]
        else:
            assert protocol == {"minReaderVersion": 1, "minWriterVersion": 2}


def test_expectations_off_keeps_every_row(ran, tmp_path):
    result = dlt_local.run(ran.bronze, tmp_path / "all", expectations=False)
    assert result["dropped"] == {}
    assert result["tables"]["silver_transactions"] == result["tables"]["bronze_transactions"]


def test_the_pipeline_file_declares_no_tables_outside_databricks():
    assert dlt_features.dlt is None
    assert set(dlt_features.TRANSFORMS) == {
        "silver_transactions", "gold_daily_customer", "gold_daily_product"
    }  # fmt: skip


def test_the_local_analogue_reports_the_tables_as_metrics(ran, tmp_path):
    from labctl.analogues import databricks as analogues

    step = SimpleNamespace(name="dlt-features", settings={"target_schema": "ml_features"})
    ctx = SimpleNamespace(
        infra={"bucket": str(tmp_path / "bucket")},
        results={"ecommerce-data": {"dir": str(ran.bronze.parent.parent)}},
        workspace=tmp_path,
        lab_name="feature-store-pipeline",
    )
    result = analogues.delta_live_tables(step=step, ctx=ctx)
    assert result["dir"] == str(tmp_path / "bucket" / "dlt" / "ml_features")
    assert result["format"] == "delta"
    assert result["metrics"]["rows:silver_transactions"] == result["expectations"]["passed"]
    assert result["metrics"]["dropped:valid_customer"] == ran.result["dropped"]["valid_customer"]
    features = analogues.feature_store(
        step=SimpleNamespace(name="feature-store", settings={}), ctx=ctx
    )
    rows = features["tables"]["customer_features"]["rows"]
    assert rows == ran.result["tables"]["gold_daily_customer"]  # one row per customer and day
