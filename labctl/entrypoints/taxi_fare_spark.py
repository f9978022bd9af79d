"""Taxi fare regression with Spark MLlib: VectorAssembler + GBTRegressor, cross-validated.

The same code runs on a Databricks job cluster (the session exists; `getOrCreate` returns it) and
on this machine (a small `local[*]` session is started). Channels `train` and `validation` are
Parquet folders, label first (`fare_amount`, or the `label` hyperparameter).

Hyperparameters: max_iter (50), max_depth (6), step_size (0.1), subsampling_rate (0.8),
cv_folds (3; CrossValidator over the train channel, below 2 no cross-validation), seed (42),
registered_model_name (taxi_fare_gbt; `LABCTL_MODEL_NAME` wins), register_model (true).

Metrics: `cv:rmse` (when cross-validating), `train:rmse`, `validation:rmse`, `validation:r2`.
The fitted PipelineModel is saved to `model/spark-model`; with MLflow tracking on it is logged
(flavor `spark`) and registered.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from labctl.entrypoints import _tracking, contract

MODEL_DIR = "spark-model"
CONTENT_TYPE = "text/csv"


def spark_session(app: str = "labctl") -> Any:
    """The active session (Databricks), else a small local one sized for this machine."""
    import logging

    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None or os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return active or SparkSession.builder.getOrCreate()
    logging.getLogger("py4j").setLevel(logging.WARNING)
    session = (
        SparkSession.builder.appName(app)
        .master(f"local[{contract.num_cpus()}]")
        .config("spark.driver.memory", os.environ.get("LABCTL_SPARK_DRIVER_MEMORY", "1g"))
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", str(max(2, contract.num_cpus())))
        .config("spark.pyspark.python", sys.executable)  # workers: this interpreter's packages
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.extraJavaOptions", "-Dlog4j.rootLogger=ERROR")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_path(path: Path | str) -> str:
    """A channel path as Spark reads it (`/dbfs/x` is `dbfs:/x` to Spark on Databricks)."""
    text = str(path)
    return "dbfs:" + text[5:] if text.startswith("/dbfs/") else text


def train() -> None:
    from pyspark.ml import Pipeline
    from pyspark.ml.evaluation import RegressionEvaluator
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.regression import GBTRegressor
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    hp = contract
    params = {
        "max_iter": hp.hp_int("max_iter", 50, low=1, high=1000),
        "max_depth": hp.hp_int("max_depth", 6, low=1, high=30),
        "step_size": hp.hp_float("step_size", 0.1, low=1e-4, high=1.0),
        "subsampling_rate": hp.hp_float("subsampling_rate", 0.8, low=1e-3, high=1.0),
        "cv_folds": hp.hp_int("cv_folds", 3, low=0, high=20),
        "seed": hp.hp_int("seed", 42),
    }
    label = hp.hp_str("label", "fare_amount")
    spark = spark_session("labctl-taxi-fare")
    train_df = spark.read.parquet(spark_path(contract.channel("train")))
    val_df = spark.read.parquet(spark_path(contract.channel("validation")))
    if label not in train_df.columns:
        raise contract.HyperparameterError(f"label column '{label}' is not in the train channel")
    features = [c for c in train_df.columns if c != label]
    assembler = VectorAssembler(inputCols=features, outputCol="features", handleInvalid="keep")
    gbt = GBTRegressor(
        labelCol=label,
        featuresCol="features",
        maxIter=params["max_iter"],
        maxDepth=params["max_depth"],
        stepSize=params["step_size"],
        subsamplingRate=params["subsampling_rate"],
        seed=params["seed"],
    )
    pipeline = Pipeline(stages=[assembler, gbt])
    rmse = RegressionEvaluator(labelCol=label, metricName="rmse")
    rows = train_df.count()
    # Few partitions for small data: each of GBT's many small jobs pays per task.
    train_df = train_df.repartition(max(1, min(contract.num_cpus() * 2, rows // 200_000))).cache()
    metrics: dict[str, float] = {}
    started = time.monotonic()
    with _tracking.run("taxi-fare-spark-gbt", {**params, "label": label, "rows": rows}) as tracker:
        if params["cv_folds"] >= 2:
            grid = ParamGridBuilder().addGrid(gbt.maxDepth, [params["max_depth"]]).build()
            cv = CrossValidator(
                estimator=pipeline,
                estimatorParamMaps=grid,
                evaluator=rmse,
                numFolds=params["cv_folds"],
                parallelism=min(params["cv_folds"], contract.num_cpus()),
                seed=params["seed"],
            )
            fitted = cv.fit(train_df)
            model = fitted.bestModel
            metrics["cv:rmse"] = float(fitted.avgMetrics[0])
        else:
            model = pipeline.fit(train_df)
        metrics["train:rmse"] = float(rmse.evaluate(model.transform(train_df)))
        predicted = model.transform(val_df)
        metrics["validation:rmse"] = float(rmse.evaluate(predicted))
        metrics["validation:r2"] = float(
            RegressionEvaluator(labelCol=label, metricName="r2").evaluate(predicted)
        )
        metrics["training_seconds"] = round(time.monotonic() - started, 3)
        for name, value in metrics.items():
            contract.emit_metric(name, value)
        tracker.metrics(metrics)
        out = contract.model_dir() / MODEL_DIR
        model.write().overwrite().save(spark_path(out))
        (contract.model_dir() / "features.json").write_text(
            json.dumps({"label": label, "features": features}), encoding="utf-8"
        )
        import pyspark

        tracker.log_model("spark", model, requirement=f"pyspark=={pyspark.__version__}")
        if hp.hp_bool("register_model", True):
            tracker.register(hp.hp_str("registered_model_name", "taxi_fare_gbt"))
    contract.write_metrics(metrics)


# --------------------------------------------------------------------------- inference


def model_fn(model_dir: str) -> dict[str, Any]:
    """The PipelineModel and its feature names, in a local Spark session."""
    from pyspark.ml import PipelineModel

    spark_session("labctl-taxi-fare-serving")
    meta = json.loads((Path(model_dir) / "features.json").read_text(encoding="utf-8"))
    return {"model": PipelineModel.load(str(Path(model_dir) / MODEL_DIR)), **meta}


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """text/csv rows or application/json instances of the features (no label)."""
    return contract.parse_rows(body, content_type)


def predict_fn(data: np.ndarray, model: dict[str, Any]) -> np.ndarray:
    """The predicted fare per row."""
    import pandas as pd
    from pyspark.sql import SparkSession

    contract.check_width(data, len(model["features"]))
    spark = SparkSession.getActiveSession() or spark_session()
    frame = spark.createDataFrame(pd.DataFrame(data.astype(np.float64), columns=model["features"]))
    rows = model["model"].transform(frame).select("prediction").collect()
    return np.asarray([r[0] for r in rows], dtype=np.float64)


def output_fn(prediction: np.ndarray, accept: str) -> tuple[bytes, str]:
    return contract.encode_values(prediction, accept, default="text/csv")


if __name__ == "__main__":
    contract.run(train)
