"""MLflow tracking for the entry points, the same on this machine and on Databricks.

Where runs go is the environment's business: locally labctl sets `MLFLOW_TRACKING_URI` /
`MLFLOW_REGISTRY_URI` (a SQLite store in the lab's workspace) and `MLFLOW_EXPERIMENT_NAME`; on a
Databricks cluster (`DATABRICKS_RUNTIME_VERSION` is set) MLflow tracks to the workspace and the
launcher sets `MLFLOW_EXPERIMENT_ID` to the lab's experiment. Without either, nothing is tracked.

A tracked job writes `output/data/tracking.json` (`mlflow_run_id`, `mlflow_experiment_id`, and
the registered model when there is one), which labctl puts in the job's ledger row and result.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labctl.entrypoints import contract

SKOPS_TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def enabled() -> bool:
    """Whether this job has somewhere to track to (`LABCTL_TRACKING=off` turns it off)."""
    if os.environ.get("LABCTL_TRACKING") == "off":
        return False
    return bool(
        os.environ.get("MLFLOW_TRACKING_URI") or os.environ.get("DATABRICKS_RUNTIME_VERSION")
    )


def _experiment_id(mlflow: Any) -> str | None:
    if os.environ.get("MLFLOW_EXPERIMENT_ID"):
        return os.environ["MLFLOW_EXPERIMENT_ID"]
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name:
        return None
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    location = None
    if uri.startswith("sqlite:///"):  # artifacts next to the store, not in the job's folder
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except Exception:  # created meanwhile by a parallel trial
        found = mlflow.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


class Tracker:
    """The active MLflow run of a job (or a no-op when tracking is off)."""

    def __init__(self, mlflow: Any = None, run: Any = None) -> None:
        self.mlflow = mlflow
        self.run = run
        self.info: dict[str, Any] = {}
        if run is not None:
            self.info = {
                "mlflow_run_id": run.info.run_id,
                "mlflow_experiment_id": run.info.experiment_id,
            }

    def metrics(self, values: dict[str, float]) -> None:
        if self.mlflow is not None:
            self.mlflow.log_metrics({k.replace(":", "_"): float(v) for k, v in values.items()})

    def log_model(self, flavor: str, model: Any, *, requirement: str, example: Any = None) -> Any:
        """Log the model under the run (no pip inference: it would load the model again)."""
        if self.mlflow is None:
            return None
        module = getattr(__import__(f"mlflow.{flavor}"), flavor)
        kwargs: dict[str, Any] = {"pip_requirements": [requirement]}
        if flavor == "sklearn":  # skops format: the tree types of models this job just trained
            kwargs["skops_trusted_types"] = SKOPS_TRUSTED
        if example is not None:
            from mlflow.models import infer_signature

            kwargs["signature"] = infer_signature(example, _predict(model, example))
        if flavor == "spark":  # mlflow.spark still takes the older positional artifact_path
            info = module.log_model(model, "model", **kwargs)
        else:
            info = module.log_model(model, name="model", **kwargs)
        self.info["model_uri"] = info.model_uri
        return info

    def finish_sklearn(
        self, model: Any, features: list[str], metrics: dict[str, float], example: Any, path: Any
    ) -> None:
        """Emit and track `metrics`, save the model as `path` (joblib: the model and its feature
        names, what model_fn loads), then log and register it in MLflow."""
        import joblib
        import sklearn

        from labctl.entrypoints import contract

        for name, value in metrics.items():
            contract.emit_metric(name, value)
        self.metrics(metrics)
        joblib.dump({"model": model, "features": features}, path)
        self.log_model(
            "sklearn", model, requirement=f"scikit-learn=={sklearn.__version__}", example=example
        )
        self.register()  # when labctl names a model to register ($LABCTL_MODEL_NAME)

    def register(self, name: str | None = None) -> None:
        """Register the logged model as a new version of `name`, else of `$LABCTL_MODEL_NAME`
        (set by labctl on Databricks); neither: nothing is registered."""
        name = os.environ.get("LABCTL_MODEL_NAME") or name
        if self.mlflow is None or "model_uri" not in self.info or not name:
            return
        version = self.mlflow.register_model(self.info["model_uri"], name)
        self.info["registered_model"] = {"name": name, "version": str(version.version)}


def _predict(model: Any, example: Any) -> Any:
    return model.predict(example) if hasattr(model, "predict") else None


@contextmanager
def run(run_name: str, params: dict[str, Any], *, autolog: str | None = None) -> Iterator[Tracker]:
    """An MLflow run around the job's training; writes tracking.json when it ends."""
    if not enabled():
        yield Tracker()
        return
    import mlflow

    if autolog:
        getattr(mlflow, autolog).autolog(log_models=False, silent=True)
    tags = {
        k: v
        for k, v in {
            "labctl-run": os.environ.get("LABCTL_RUN_ID"),
            "labctl-job": os.environ.get("LABCTL_JOB_NAME"),
        }.items()
        if v
    }
    with mlflow.start_run(
        run_name=run_name, experiment_id=_experiment_id(mlflow), tags=tags
    ) as active:
        mlflow.log_params({k: v for k, v in params.items()})
        tracker = Tracker(mlflow, active)
        yield tracker
    out = contract.output_data_dir() / "tracking.json"
    out.write_text(json.dumps(tracker.info, indent=2) + "\n", encoding="utf-8")
    print("#tracking " + json.dumps(tracker.info), flush=True)
    sys.stdout.flush()
