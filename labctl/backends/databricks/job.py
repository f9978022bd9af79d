"""The launcher labctl uploads next to the lab's code and runs as a job's `spark_python_task`.

    labctl_job.py data    --generator G --rows N --seed S --validation-fraction F --out DIR
    labctl_job.py train   --entry-point M --job NAME --data DIR --out DIR --hps JSON
    labctl_job.py tune    --entry-point M --job NAME --data DIR --out DIR --hps JSON --spec JSON
    labctl_job.py service --service S --step-json JSON --data DIR --out DIR
                          [--silver-table T] [--schema CATALOG.SCHEMA]
    labctl_job.py promote --model M [--registry R] [--aliases A,B] [--endpoint E]

Paths are the driver's FUSE paths (`/dbfs/...`, `/Volumes/...`). `train` runs the lab's entry
point under the same SageMaker-style contract as on this machine (`labctl.entrypoints.contract`);
`tune` runs an Optuna study on the driver whose trials are Spark tasks, `parallelism` at a time,
each one the entry point in a subprocess on an executor. Every command ends by printing
`#labctl-result <json>`, which labctl reads back from the run's output.

Standard library only at import time: the cluster provides numpy, pandas, pyspark, mlflow, optuna.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CODE_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(CODE_DIR))
RESULT = "#labctl-result "


def _emit(result: dict[str, Any]) -> None:
    print(RESULT + json.dumps(result, default=str), flush=True)


def run_entry_point(
    module: str,
    job_dir: Path,
    channels: dict[str, Path],
    hps: dict[str, Any],
    extra_env: dict[str, str] | None = None,
    python: str = sys.executable,
) -> tuple[int, str]:
    """The entry point in a subprocess under the training contract; (exit code, its output)."""
    from labctl.entrypoints import contract

    env = {**os.environ, **contract.prepare_job_dir(job_dir, channels, hps), **(extra_env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(CODE_DIR), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    proc = subprocess.run(
        [python, "-m", module],
        cwd=job_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    return proc.returncode, proc.stdout


def run_in_process(
    module: str, job_dir: Path, channels: dict[str, Path], hps: dict[str, Any], extra_env=None
) -> tuple[int, str]:
    """The entry point in this (driver) process, where MLflow has the cluster's credentials;
    its output is echoed and returned."""
    import contextlib
    import io
    import runpy

    from labctl.entrypoints import contract

    os.environ.update({**contract.prepare_job_dir(job_dir, channels, hps), **(extra_env or {})})

    class Tee(io.StringIO):
        def write(self, text: str) -> int:
            sys.__stdout__.write(text)
            return super().write(text)

    out = Tee()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue()


def _metrics_of(output: str) -> tuple[dict[str, float], dict[str, Any]]:
    from labctl.entrypoints import contract

    metrics: dict[str, float] = {}
    tracking: dict[str, Any] = {}
    for line in output.splitlines():
        parsed = contract.parse_metric_line(line.strip())
        if parsed and parsed[2] is None:
            metrics[parsed[0]] = parsed[1]
        elif line.startswith("#tracking "):
            tracking = json.loads(line[len("#tracking ") :])
    return metrics, tracking


def cmd_data(a: argparse.Namespace) -> dict[str, Any]:
    from labctl import datagen

    out = Path(a.out)
    schema = datagen.generate(
        a.generator,
        rows=a.rows,
        seed=a.seed,
        out_dir=out,
        validation_fraction=a.validation_fraction,
    )
    return {"dir": str(out), "rows": a.rows, "schema": schema}


def cmd_train(a: argparse.Namespace) -> dict[str, Any]:
    data = Path(a.data)
    job_dir = Path(tempfile.mkdtemp(prefix="labctl-job-"))
    code, output = run_in_process(
        f"labctl.entrypoints.{a.entry_point}",
        job_dir,
        {c: data / c for c in ("train", "validation")},
        json.loads(a.hps),
        {"LABCTL_JOB_NAME": a.job},
    )
    if code != 0:
        failure = job_dir / "output" / "failure"
        reason = failure.read_text().strip() if failure.exists() else output[-2000:]
        raise SystemExit(f"training failed (exit {code}): {reason}")
    out = Path(a.out)
    shutil.copytree(job_dir / "model", out, dirs_exist_ok=True)
    metrics, tracking = _metrics_of(output)
    return {"model_dir": str(out), "metrics": metrics, "tracking": tracking}


def _suggest(trial: Any, key: str, rng: dict[str, Any]) -> Any:
    if rng["type"] == "continuous":
        return trial.suggest_float(
            key, rng["min"], rng["max"], log=rng.get("scaling") == "logarithmic"
        )
    if rng["type"] == "categorical":
        return trial.suggest_categorical(key, rng["values"])
    return trial.suggest_int(key, rng["min"], rng["max"], log=rng.get("scaling") == "logarithmic")


def cmd_tune(a: argparse.Namespace, spark: Any = None) -> dict[str, Any]:
    """Optuna ask/tell on the driver; each batch of trials is one Spark job of parallel tasks."""
    import optuna

    spec = json.loads(a.spec)
    static = json.loads(a.hps)
    data = Path(a.data)
    module = f"labctl.entrypoints.{a.entry_point}"
    objective, goal = spec["objective"], spec["goal"]
    sampler = (
        optuna.samplers.RandomSampler(seed=0)
        if spec["strategy"] == "random"
        else optuna.samplers.TPESampler(seed=0, n_startup_trials=min(5, spec["max_jobs"]))
    )
    study = optuna.create_study(direction=goal, sampler=sampler)
    if spark is None:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.getOrCreate()
    sc = spark.sparkContext
    code_dir = str(CODE_DIR)
    python = sys.executable  # the driver's interpreter path (the same on every node)

    def trial_task(item: tuple[int, dict[str, Any]]) -> tuple[int, int, dict[str, float], str]:
        number, hps = item
        sys.path.insert(0, code_dir)
        job_dir = Path(tempfile.mkdtemp(prefix=f"labctl-trial-{number}-"))
        code, output = run_entry_point(
            module,
            job_dir,
            {c: data / c for c in ("train", "validation")},
            hps,
            # trials are not tracked (executors lack the driver's MLflow credentials); the
            # best one is refit and tracked on the driver
            {"LABCTL_JOB_NAME": f"{a.job}-{number:03d}", "LABCTL_TRACKING": "off"},
            python,
        )
        metrics, _ = _metrics_of(output)
        return number, code, metrics, output[-1500:]

    results: dict[int, dict[str, Any]] = {}
    asked = 0
    while asked < spec["max_jobs"]:
        batch = []
        for _ in range(min(spec["parallelism"], spec["max_jobs"] - asked)):
            trial = study.ask()
            hps = {**static, **{k: _suggest(trial, k, r) for k, r in spec["ranges"].items()}}
            batch.append((trial, hps))
            asked += 1
        done = (
            sc.parallelize([(t.number, h) for t, h in batch], len(batch)).map(trial_task).collect()
        )
        by_number = {t.number: t for t, _ in batch}
        for number, code, metrics, tail in done:
            trial = by_number[number]
            if code == 0 and objective in metrics:
                study.tell(trial, metrics[objective])
                results[number] = {"metrics": metrics, "params": trial.params}
                print(f"trial {number}: {objective}={metrics[objective]}", flush=True)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                print(f"trial {number} failed (exit {code}):\n{tail}", flush=True)
    if not results:
        raise SystemExit("no tuning trial completed")
    best = study.best_trial
    # Refit the best trial's model on the driver, tracked and saved like a train job.
    train_args = argparse.Namespace(
        entry_point=a.entry_point,
        job=f"{a.job}-best",
        data=a.data,
        out=a.out,
        hps=json.dumps({**static, **best.params}),
    )
    refit = cmd_train(train_args)
    return {
        "best_hyperparameters": best.params,
        "metrics": {objective: best.value},
        "trials": len(study.trials),
        "completed": len(results),
        "model_dir": refit["model_dir"],
        "tracking": refit["tracking"],
    }


def cmd_service(a: argparse.Namespace) -> dict[str, Any]:
    """A feature-pipeline service step (labctl.analogues.databricks) as Parquet tables, from the
    DLT pipeline's silver table when given; with `--schema`, each also a Unity Catalog feature
    table with its primary key."""
    from types import SimpleNamespace

    from labctl.analogues import databricks as analogues

    step_data = json.loads(a.step_json)
    step = SimpleNamespace(name=step_data["name"], settings=step_data.get("settings", {}))
    ctx = SimpleNamespace(
        infra={"bucket": a.out},
        results={"data": {"dir": a.data}},
        workspace=Path(a.out),
        lab_name=step_data.get("lab", "lab"),
    )
    spark = None
    if a.silver_table or a.schema:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.getOrCreate()
    if a.silver_table:  # the DLT pipeline's silver table, where the analogue looks for it
        silver = Path(a.out, "dlt", "pipeline", "silver_transactions")
        silver.mkdir(parents=True, exist_ok=True)
        spark.table(a.silver_table).toPandas().to_parquet(silver / "part-0.parquet", index=False)
    result = analogues.SERVICES[a.service](step=step, ctx=ctx)
    if a.schema:
        result["tables"] = {
            name: {**meta, "table": uc_feature_table(spark, a.schema, name, meta)}
            for name, meta in result["tables"].items()
        }
    return result


def uc_feature_table(spark: Any, schema: str, name: str, meta: dict[str, Any]) -> str:
    """A feature table's Parquet as a Unity Catalog Delta table with its primary key (the
    timestamp key as TIMESERIES): what the Feature Engineering client looks features up by."""
    import pandas as pd

    table = f"{schema}.{name}"
    frame = spark.createDataFrame(pd.read_parquet(meta["dir"]))
    frame.write.mode("overwrite").option("overwriteSchema", "true").saveAsTable(table)
    keys = [*meta["primary_keys"], *meta["timestamp_keys"]]
    for key in keys:
        spark.sql(f"ALTER TABLE {table} ALTER COLUMN `{key}` SET NOT NULL")
    columns = ", ".join(
        f"`{k}` TIMESERIES" if k in meta["timestamp_keys"] else f"`{k}`" for k in keys
    )
    spark.sql(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}_pk")
    spark.sql(f"ALTER TABLE {table} ADD CONSTRAINT {name}_pk PRIMARY KEY ({columns})")
    return table


def cmd_promote(a: argparse.Namespace) -> dict[str, Any]:
    """A workflow task after training: point the aliases at the model's newest version and/or
    serve that version from the lab's endpoint (the Databricks SDK the runtime ships)."""
    import mlflow

    mlflow.set_registry_uri(a.registry)
    client = mlflow.MlflowClient()
    versions = client.search_model_versions(f"name='{a.model}'")
    if not versions:
        raise SystemExit(f"no version of model {a.model} to promote")
    version = max(int(v.version) for v in versions)
    aliases = [x for x in a.aliases.split(",") if x]
    for alias in aliases:
        client.set_registered_model_alias(a.model, alias, version)
    result: dict[str, Any] = {"model": a.model, "version": str(version), "aliases": aliases}
    if a.endpoint:
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.service.serving import ServedEntityInput

        w = WorkspaceClient()
        current = w.serving_endpoints.get(a.endpoint).config.served_entities[0]
        entity = ServedEntityInput(
            entity_name=a.model,
            entity_version=str(version),
            workload_size=current.workload_size,
            scale_to_zero_enabled=current.scale_to_zero_enabled,
        )
        w.serving_endpoints.update_config(name=a.endpoint, served_entities=[entity])
        result["endpoint"] = a.endpoint
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="labctl_job")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("data")
    p.add_argument("--generator", required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--validation-fraction", type=float, default=0.2)
    p.add_argument("--out", required=True)
    for name in ("train", "tune"):
        p = sub.add_parser(name)
        p.add_argument("--entry-point", required=True)
        p.add_argument("--job", required=True)
        p.add_argument("--data", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--hps", default="{}")
        if name == "tune":
            p.add_argument("--spec", required=True)
    p = sub.add_parser("service")
    p.add_argument("--service", required=True)
    p.add_argument("--step-json", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--silver-table", default="", help="read the events from this table")
    p.add_argument("--schema", default="", help="<catalog>.<schema>: write Unity Catalog tables")
    p = sub.add_parser("promote")
    p.add_argument("--model", required=True)
    p.add_argument("--registry", default="databricks", help="databricks or databricks-uc")
    p.add_argument("--aliases", default="")
    p.add_argument("--endpoint", default="")
    a = parser.parse_args(argv)
    commands = {"data": cmd_data, "train": cmd_train, "tune": cmd_tune, "service": cmd_service,
                "promote": cmd_promote}  # fmt: skip
    _emit(commands[a.command](a))


if __name__ == "__main__":
    main()
