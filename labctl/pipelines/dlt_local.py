"""The Delta Live Tables pipeline (`dlt_features`) on a local Spark session (the local target).

The same transformation functions as the Databricks pipeline; each table is written as Parquet
with a one-commit `_delta_log`, so the folder is a Delta table (readable by Spark with Delta Lake,
delta-rs or `CONVERT TO DELTA`) without the Delta jars, which labctl cannot download.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from labctl.pipelines import dlt_features

LOG = "_delta_log"


def run(bronze_path: Path, out: Path, *, expectations: bool = True) -> dict[str, Any]:
    """Read the bronze Parquet, build every table, write each under `out/<table>`.

    Returns {"tables": {table: rows}, "dropped": {expectation: rows}, "dirs": {table: path}}."""
    from pyspark.sql import SparkSession

    from labctl.entrypoints.taxi_fare_spark import spark_session

    ours = SparkSession.getActiveSession() is None
    spark = spark_session("labctl-dlt")
    try:
        spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        bronze = spark.read.parquet(str(bronze_path))
        tables, dropped = dlt_features.run_tables(bronze, expectations=expectations)
        rows: dict[str, int] = {}
        dirs: dict[str, str] = {}
        for name, frame in tables.items():
            folder = out / name
            if folder.exists():
                shutil.rmtree(folder)
            frame.coalesce(1).write.parquet(str(folder))
            write_delta_log(folder, frame.schema.json())
            rows[name] = spark.read.parquet(str(folder)).count()
            dirs[name] = str(folder)
    finally:
        if ours:
            spark.stop()
    return {"tables": rows, "dropped": dropped, "dirs": dirs}


def write_delta_log(folder: Path, schema_json: str, *, now_ms: int | None = None) -> Path:
    """Version 0 of a Delta table over the Parquet files in `folder` (protocol, metadata, one
    `add` per file). A `timestamp_ntz` column needs the `timestampNtz` table feature."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    ntz = '"timestamp_ntz"' in schema_json
    protocol: dict[str, Any] = {"minReaderVersion": 1, "minWriterVersion": 2}
    if ntz:
        feature = ["timestampNtz"]
        protocol = {"minReaderVersion": 3, "minWriterVersion": 7,
                    "readerFeatures": feature, "writerFeatures": feature}  # fmt: skip
    actions: list[dict[str, Any]] = [
        {"commitInfo": {"timestamp": now_ms, "operation": "WRITE", "engineInfo": "labctl"}},
        {"protocol": protocol},
        {"metaData": {"id": str(uuid.uuid4()), "format": {"provider": "parquet", "options": {}},
                      "schemaString": schema_json, "partitionColumns": [], "configuration": {},
                      "createdTime": now_ms}},
    ]  # fmt: skip
    for part in sorted(folder.glob("*.parquet")):
        add = {"path": part.name, "partitionValues": {}, "size": part.stat().st_size,
               "modificationTime": now_ms, "dataChange": True}  # fmt: skip
        actions.append({"add": add})
    log = folder / LOG
    log.mkdir(exist_ok=True)
    commit = log / f"{0:020d}.json"
    commit.write_text("".join(json.dumps(a) + "\n" for a in actions), encoding="utf-8")
    return commit
