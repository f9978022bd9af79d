"""Issue 17 on the databricks target, against the REST stubs of tests/test_databricks.py:
Delta Live Tables updates, the Unity Catalog probe and what it changes (models, aliases,
inference tables, feature tables, job clusters), the rendered module, the DLT estimate.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import _schema
import pytest
import requests_mock as rm
from test_databricks import HOST, REPO, Clock, Workspace, client, make_ctx

from labctl import cost, orchestrator, terraform
from labctl.backends import databricks as dbx
from labctl.backends.databricks import lab_inputs, unity
from labctl.catalog import ServiceStep
from labctl.errors import BackendError
from labctl.prices import PriceBook

pytestmark = pytest.mark.databricks

PIPES = rf"{HOST}/api/2.0/pipelines/pipe-1"
UC_SCHEMA = "main.labctl_ana_feature_store_pipeline_1a2b3c"
FLOW_EVENTS = [
    {"origin": {"flow_name": f"{UC_SCHEMA}.silver_transactions", "update_id": "u-1"},
     "details": {"flow_progress": {"metrics": {"num_output_rows": 940}, "data_quality": {
         "expectations": [{"name": "valid_customer", "failed_records": 50},
                          {"name": "positive_price", "failed_records": 10}]}}}},
    {"origin": {"flow_name": "gold_daily_customer", "update_id": "u-1"},
     "details": {"flow_progress": {"metrics": {"num_output_rows": 300}}}},
    {"origin": {"flow_name": "gold_daily_customer", "update_id": "u-1"},
     "details": {"flow_progress": {"status": "COMPLETED"}}},
]  # fmt: skip


class Pipelines:
    """Stubs of one pipeline's updates (a sequence of states), its event log and stop."""

    def __init__(self, mock: rm.Mocker, states: tuple[str, ...], ledger=None, run_id=None):
        self.states = list(states)
        self.rows_at_start: list[str] | None = None
        self.ledger, self.run_id = ledger, run_id
        mock.post(f"{PIPES}/updates", json=self._start)
        mock.get(f"{PIPES}/updates/u-1", json=self._get)
        mock.get(f"{PIPES}/events", json={"events": FLOW_EVENTS})
        mock.post(f"{PIPES}/stop", json={})

    def _start(self, request, context):
        if self.ledger is not None:  # what the ledger held when the update was asked for
            self.rows_at_start = [r.kind for r in self.ledger.open_resources(self.run_id)]
        return {"update_id": "u-1"}

    def _get(self, request, context):
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"update": {"update_id": "u-1", "state": state, "creation_time": 1}}


class FeatureTables(Workspace):
    """The feature-store job answers as the launcher does under Unity Catalog: table names."""

    def _output(self, request, context):
        answer = super()._output(request, context)
        run_id = int(request.qs["run_id"][0]) // 10
        params = self.runs[run_id]["tasks"][0]["spark_python_task"]["parameters"]
        if params[0] == "service":
            schema = params[params.index("--schema") + 1]
            table = {"table": f"{schema}.customer_features", "timestamp_keys": ["event_ts"]}
            tables = {"customer_features": table}
            answer["logs"] += "\n#labctl-result " + json.dumps({"tables": tables})
        return answer


def dlt_ctx(tmp_path, **infra):
    ctx = make_ctx(tmp_path, "feature-store-pipeline")
    ctx.infra |= {"dlt_pipeline_ids": {"dlt-features": "pipe-1"}, **infra}
    return ctx


def test_dlt_update_is_in_the_ledger_before_it_starts_and_closes_when_done(tmp_path, home):
    ctx = dlt_ctx(tmp_path)
    clock = Clock()
    backend = dbx.DatabricksBackend(client=client(), sleep=clock.sleep, clock=clock)
    with rm.Mocker() as mock:
        Workspace(mock)
        pipes = Pipelines(mock, ("WAITING_FOR_RESOURCES", "RUNNING", "COMPLETED"), ctx.ledger,
                          ctx.run.id)  # fmt: skip
        result = backend.run_step(ctx.lab.step("dlt-features"), ctx)
        (start,) = [r.json() for r in mock.request_history if r.path.endswith("/updates")]
        events = [r for r in mock.request_history if r.path.endswith("/events")]
    assert pipes.rows_at_start == ["pipeline"]  # the row first, then the update
    assert start == {"full_refresh": True}
    assert "origin.update_id = 'u-1'" in events[0].qs["filter"][0]
    (row,) = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "pipeline"]
    assert not row.is_open and row.status == "COMPLETED"
    assert row.billable_seconds == 2 * backend.poll_seconds  # the injected clock, two polls
    assert row.instance_type == "i3.xlarge" and row.instance_count == 2  # driver + 1 worker
    assert row.price_per_hour == pytest.approx(0.36 * 1 + 0.312)  # ADVANCED DBUs + the VM
    assert row.attrs["pipeline_id"] == "pipe-1" and row.attrs["update_id"] == "u-1"
    assert row.attrs["edition"] == "ADVANCED" and row.attrs["serverless"] is False
    assert result["tables"] == {"silver_transactions": 940, "gold_daily_customer": 300}
    assert result["expectations"]["dropped"] == {"valid_customer": 50, "positive_price": 10}
    assert result["metrics"]["rows:silver_transactions"] == 940  # what `labctl status` shows
    assert result["schema"] == f"{ctx.infra.get('uc_schema', '')}_ml_features"


def test_a_failed_update_names_the_step_and_closes_its_row(tmp_path, home):
    ctx = dlt_ctx(tmp_path)
    backend = dbx.DatabricksBackend(client=client(), sleep=lambda s: None)
    with rm.Mocker() as mock:
        Workspace(mock)
        Pipelines(mock, ("RUNNING", "FAILED"))
        with pytest.raises(BackendError, match="step 'dlt-features': pipeline update u-1 FAILED"):
            backend.run_step(ctx.lab.step("dlt-features"), ctx)
    (row,) = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "pipeline"]
    assert row.status == "FAILED" and not row.is_open


def test_no_pipeline_in_the_outputs_is_a_clear_error(tmp_path, home):
    ctx = make_ctx(tmp_path, "feature-store-pipeline")
    backend = dbx.DatabricksBackend(client=client())
    with pytest.raises(BackendError, match="made no Delta Live Tables pipeline"):
        backend.run_step(ctx.lab.step("dlt-features"), ctx)


def test_a_continuous_pipeline_runs_until_down_stops_it(tmp_path, home):
    ctx = dlt_ctx(tmp_path, uc_catalog="main", uc_schema=UC_SCHEMA)
    step = ctx.lab.step("dlt-features")
    continuous = step.model_copy(update={"settings": {**step.settings, "mode": "continuous"}})
    backend = dbx.DatabricksBackend(client=client(), sleep=lambda s: None)
    with rm.Mocker() as mock:
        Workspace(mock)
        Pipelines(mock, ("QUEUED", "RUNNING"))
        result = backend.run_step(continuous, ctx)
        (row,) = ctx.ledger.open_resources(ctx.run.id)[-1:]
        assert row.kind == "pipeline" and row.status == "RUNNING"
        assert row.instance_type == "serverless" and row.attrs["serverless"] is True
        assert backend.live_status(row) == "RUNNING"
        backend.teardown(row, ctx.ledger)
        stops = [r for r in mock.request_history if r.method == "POST" and r.path.endswith("/stop")]
    assert result["mode"] == "continuous" and result["schema"] == UC_SCHEMA
    assert len(stops) == 1


def test_stopping_a_pipeline_that_is_gone_is_success(tmp_path, home):
    ctx = dlt_ctx(tmp_path)
    row = ctx.ledger.add_resource(
        ctx.run, kind="pipeline", name="dlt-features-r1", attrs={"pipeline_id": "pipe-1"}
    )
    backend = dbx.DatabricksBackend(client=client())
    with rm.Mocker() as mock:
        Workspace(mock)
        gone = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no pipeline"}
        mock.post(f"{PIPES}/stop", status_code=404, json=gone)
        backend.teardown(row, ctx.ledger)


# --- Unity Catalog ------------------------------------------------------------------------------

ASSIGNMENT = f"{HOST}/api/2.1/unity-catalog/current-metastore-assignment"


@pytest.mark.parametrize(
    ("answer", "catalog"),
    [
        ({"status_code": 404, "json": {"error_code": "METASTORE_DOES_NOT_EXIST",
                                       "message": "No metastore assigned"}}, None),
        ({"json": {"metastore_id": "ms-1", "default_catalog_name": "ws_cat"}}, "ws_cat"),
        ({"json": {"metastore_id": "ms-1", "default_catalog_name": "hive_metastore"}}, "main"),
        ({"status_code": 403, "json": {"error_code": "PERMISSION_DENIED", "message": "no"}}, None),
    ],
)  # fmt: skip
def test_the_metastore_probe_chooses_unity_catalog_or_the_workspace_registry(
    answer, catalog, home, monkeypatch
):
    monkeypatch.delenv(unity.CATALOG_ENV, raising=False)
    backend = dbx.DatabricksBackend(client=client())
    with rm.Mocker() as mock:
        mock.get(f"{HOST}/.well-known/databricks-config", status_code=404)
        mock.get(ASSIGNMENT, **answer)
        store = backend.metastore()
        assert backend.metastore() is store  # asked once
        assert len([r for r in mock.request_history if r.url == ASSIGNMENT]) == 1
        lab = _lab("feature-store-pipeline")
        inputs = backend.module_inputs(Path("."), lab)
    assert store.catalog == catalog
    assert inputs.get("uc_catalog") == catalog
    if catalog is None:
        assert "uc_catalog" not in inputs and store.reason
        notes = {f.step: f.reason for f in backend.check(lab)}
        for step in ("feature-store", "model-registry", "model-serving"):
            assert "no Unity Catalog" in notes[step], notes
    else:
        assert catalog in store.reason
        notes = {f.step: f.reason for f in backend.check(lab)}
        assert not any("Unity Catalog" in reason for reason in notes.values()), notes


def test_the_catalog_can_be_named_or_refused_without_a_probe(home, monkeypatch):
    monkeypatch.setenv(unity.CATALOG_ENV, "team_labs")
    assert dbx.DatabricksBackend(client=client()).metastore().catalog == "team_labs"
    monkeypatch.setenv(unity.CATALOG_ENV, "none")
    assert not dbx.DatabricksBackend(client=client()).metastore().enabled
    monkeypatch.delenv("DATABRICKS_HOST", raising=False)
    none = dbx.DatabricksBackend().metastore()  # no client can be made: the override still holds
    assert none.reason == f"{unity.CATALOG_ENV}=none"
    monkeypatch.setenv(unity.CATALOG_ENV, "team_labs")
    assert dbx.DatabricksBackend().metastore().catalog == "team_labs"


def test_unity_catalog_models_aliases_inference_tables_and_feature_tables(tmp_path, home):
    ctx = dlt_ctx(tmp_path, uc_catalog="main", uc_schema=UC_SCHEMA,
                  data_root=f"/Volumes/{UC_SCHEMA.replace('.', '/')}/data")  # fmt: skip
    backend = dbx.DatabricksBackend(client=client(), sleep=lambda s: None)
    model = f"{UC_SCHEMA}.ecommerce_propensity"
    with rm.Mocker() as mock:
        ws = FeatureTables(mock)
        Pipelines(mock, ("COMPLETED",))
        monitor = f"{HOST}/api/2.1/unity-catalog/tables/{UC_SCHEMA}.customer_features/monitor"
        mock.post(monitor, json={"table_name": f"{UC_SCHEMA}.customer_features",
                                 "drift_metrics_table_name": "x_drift_metrics"})  # fmt: skip
        mock.delete(monitor, json={})
        aliases = re.compile(rf"{HOST}/api/2.1/unity-catalog/models/[\w.]+/aliases/\w+$")
        mock.put(aliases, json={})
        mock.delete(re.compile(rf"{HOST}/api/2.1/unity-catalog/models/[\w.]+$"), json={})
        for name in ("ecommerce-data", "dlt-features", "feature-store", "train-propensity",
                     "model-registry", "model-serving"):  # fmt: skip
            ctx.record(ctx.lab.step(name), backend.run_step(ctx.lab.step(name), ctx))
        submits = {b["run_name"].rsplit("-", 1)[0]: b["tasks"][0]
                   for b in ws.bodies("POST", "/api/2.2/jobs/runs/submit")}  # fmt: skip
        put = [r.path for r in mock.request_history if r.method == "PUT"]
        (row,) = [r for r in ctx.ledger.open_resources(ctx.run.id) if r.kind == "model"]
        backend.teardown(row, ctx.ledger)
        deleted = [r.path for r in mock.request_history if r.method == "DELETE"]
    train = submits["train-propensity"]["new_cluster"]
    assert train["spark_env_vars"]["MLFLOW_REGISTRY_URI"] == "databricks-uc"
    assert train["spark_env_vars"]["LABCTL_MODEL_NAME"] == model
    assert train["data_security_mode"] == "DATA_SECURITY_MODE_DEDICATED"
    data = submits["ecommerce-data"]["spark_python_task"]["parameters"]
    assert data[data.index("--out") + 1] == f"{ctx.infra['data_root']}/data/ecommerce-data"
    assert put == [f"/api/2.1/unity-catalog/models/{model}/aliases/{a}"
                   for a in ("challenger", "champion")]  # fmt: skip
    assert deleted == [f"/api/2.1/unity-catalog/models/{model}"]
    features = submits["feature-store"]["spark_python_task"]["parameters"]
    assert features[features.index("--schema") + 1] == UC_SCHEMA
    assert features[features.index("--silver-table") + 1] == f"{UC_SCHEMA}.silver_transactions"
    (endpoint,) = ws.bodies("POST", "/api/2.0/serving-endpoints")
    assert endpoint["config"]["auto_capture_config"] == {
        "catalog_name": "main", "schema_name": UC_SCHEMA.split(".")[1],
        "table_name_prefix": "model_serving", "enabled": True,
    }  # fmt: skip
    assert endpoint["config"]["served_entities"][0]["entity_name"] == model
    (made,) = [r.json() for r in ws.mock.request_history if r.url == monitor]
    assert made["output_schema_name"] == UC_SCHEMA
    assert made["time_series"] == {"timestamp_col": "event_ts", "granularities": ["1 day"]}
    assert made["assets_dir"].endswith("/monitoring/customer_features")
    assert ctx.results["feature-store"]["monitors"]["customer_features"]["drift_metrics"]
    (row,) = [r for r in ctx.ledger.open_resources(ctx.run.id) if r.kind == "monitoring-schedule"]
    with rm.Mocker() as mock:
        mock.delete(monitor, json={})
        backend.teardown(row, ctx.ledger)
        assert [r.method for r in mock.request_history] == ["DELETE"]
    bucket = next(r for r in ctx.ledger.open_resources(ctx.run.id) if r.kind == "bucket")
    assert bucket.name.startswith("/Volumes/")
    with rm.Mocker() as mock:  # a managed volume goes with the schema: no DBFS call
        backend.teardown(bucket, ctx.ledger)
        assert mock.request_history == []


def test_the_feature_table_gets_its_primary_key(tmp_path):
    """The launcher's Unity Catalog step: the table, NOT NULL keys, the TIMESERIES primary key."""
    from labctl.backends.databricks import job

    sql: list[str] = []

    class Writer:
        def mode(self, _):
            return self

        def option(self, *_):
            return self

        def saveAsTable(self, name):
            sql.append(f"SAVE {name}")

    class Spark:
        def createDataFrame(self, frame):
            assert list(frame.columns) == ["customer_id", "event_ts", "views"]
            return type("Frame", (), {"write": Writer()})()

        def sql(self, text):
            sql.append(text)

    import pandas as pd

    pd.DataFrame({"customer_id": [1], "event_ts": [pd.Timestamp("2026-01-01")], "views": [2]}
                 ).to_parquet(tmp_path / "part-0.parquet")  # fmt: skip
    meta = {"dir": str(tmp_path), "primary_keys": ["customer_id"], "timestamp_keys": ["event_ts"]}
    table = job.uc_feature_table(Spark(), "main.s", "customer_features", meta)
    assert table == "main.s.customer_features"
    assert sql == [
        "SAVE main.s.customer_features",
        "ALTER TABLE main.s.customer_features ALTER COLUMN `customer_id` SET NOT NULL",
        "ALTER TABLE main.s.customer_features ALTER COLUMN `event_ts` SET NOT NULL",
        "ALTER TABLE main.s.customer_features DROP CONSTRAINT IF EXISTS customer_features_pk",
        "ALTER TABLE main.s.customer_features ADD CONSTRAINT customer_features_pk "
        "PRIMARY KEY (`customer_id`, `event_ts` TIMESERIES)",
    ]


# --- the module and the estimate -----------------------------------------------------------------


def _lab(name: str):
    from labctl import catalog

    return catalog.load(REPO / "labs.yaml").lab(name)


@pytest.mark.parametrize("catalog", ["main", "none"])
def test_rendered_module_is_schema_valid_with_and_without_unity_catalog(
    catalog, tmp_path, home, monkeypatch
):
    monkeypatch.setenv(unity.CATALOG_ENV, catalog)
    out = tmp_path / "render"
    labs = str(REPO / "labs.yaml")
    orchestrator.render("feature-store-pipeline", target="databricks",
                        engineer="ana@example.com", out=out, catalog=labs)  # fmt: skip
    root = json.loads((out / terraform.ROOT_FILE).read_text())
    module = root["module"]["lab"]
    assert module["dlt_pipelines"] == {
        "dlt-features": {"edition": "ADVANCED", "continuous": False,
                         "target_schema": "ml_features", "expectations": True,
                         "bronze": "data/ecommerce-data/raw/transactions.parquet"},
    }  # fmt: skip
    assert Path(module["dlt_source_file"]) == lab_inputs.DLT_SOURCE
    assert Path(module["dlt_source_file"]).is_file()
    assert module.get("uc_catalog") == (None if catalog == "none" else catalog)
    assert {"dlt_pipeline_ids", "data_root", "uc_schema"} <= set(root["output"])
    schemas = _schema.Schemas(_schema.schema_dir())
    report = _schema.check_root(schemas, root, out / "modules" / "databricks", out)
    report.extend(_schema.check_module(schemas, out / "modules" / "databricks"))
    assert [str(p) for p in report.problems] == [] and report.unchecked == set()
    tf = (out / "modules" / "databricks" / "main.tf").read_text()
    assert 'resource "databricks_pipeline" "dlt"' in tf
    assert "development = false" in tf  # production mode: the cluster ends with the update


def test_labs_without_a_dlt_step_render_no_pipeline():
    assert lab_inputs.lab_inputs(_lab("distributed-tuning")) == {}
    lab = _lab("feature-store-pipeline")
    other = [s.model_copy(update={"generator": "telco-churn"}) if s.kind == "data" else s
             for s in lab.steps]  # fmt: skip
    assert lab_inputs.lab_inputs(lab.model_copy(update={"steps": other})) == {}


def test_plan_prices_the_dlt_update_by_edition():
    lab = _lab("feature-store-pipeline")
    prices = PriceBook.load()
    (line,) = [x for x in cost.estimate(lab, "databricks", None, prices).lines
               if x.step == "dlt-features"]  # fmt: skip
    assert line.kind == "pipeline" and line.count == 2 and line.hours == 0.25
    assert line.usd_per_hour == pytest.approx(0.36 + 0.312)
    assert line.usd == pytest.approx(2 * 0.25 * (0.36 + 0.312))
    step = lab.step("dlt-features")
    assert isinstance(step, ServiceStep)
    core = step.model_copy(update={"settings": {**step.settings, "edition": "core"}})
    lab_core = lab.model_copy(update={"steps": [core if s is step else s for s in lab.steps]})
    (cheaper,) = [x for x in cost.estimate(lab_core, "databricks", None, prices).lines
                  if x.step == "dlt-features"]  # fmt: skip
    assert cheaper.usd_per_hour == pytest.approx(0.20 + 0.312) and "CORE" in cheaper.note


# --- the Workflows job ---------------------------------------------------------------------------


def test_quartz_schedules():
    from labctl.backends.databricks.workflow import quartz

    assert quartz("0 2 * * *") == "0 0 2 * * ?"
    assert quartz("30 4 * * 0,6") == "0 30 4 ? * 1,7"  # Sunday is 1 in Quartz
    assert quartz("0 6 1 * *") == "0 0 6 1 * ?"


def test_the_workflow_job_chains_the_lab_steps_and_runs_once(tmp_path, home):
    ctx = dlt_ctx(tmp_path)
    backend = dbx.DatabricksBackend(client=client(), sleep=lambda s: None)
    created_with: list[list[str]] = []
    with rm.Mocker() as mock:
        ws = Workspace(mock)
        Pipelines(mock, ("COMPLETED",))

        def create(request, context):
            created_with.append([r.kind for r in ctx.ledger.open_resources(ctx.run.id)])
            return {"job_id": 900}

        mock.post(f"{HOST}/api/2.2/jobs/create", json=create)
        for step in ctx.lab.steps:
            ctx.record(step, backend.run_step(step, ctx))
        (job,) = ws.bodies("POST", "/api/2.2/jobs/create")
        (run_now,) = ws.bodies("POST", "/api/2.2/jobs/run-now")
    order = ["dlt-features", "feature-store", "train-propensity", "model-registry", "model-serving"]
    assert [t["task_key"] for t in job["tasks"]] == order
    assert "depends_on" not in job["tasks"][0]
    for before, task in zip(job["tasks"], job["tasks"][1:], strict=False):
        assert task["depends_on"] == [{"task_key": before["task_key"]}]
    tasks = {t["task_key"]: t for t in job["tasks"]}
    assert tasks["dlt-features"]["pipeline_task"] == {
        "pipeline_id": "pipe-1",
        "full_refresh": False,
    }
    folder = ctx.infra["workspace_folder"]
    train = tasks["train-propensity"]
    assert train["spark_python_task"]["python_file"] == f"{folder}/code/labctl_job.py"
    assert train["spark_python_task"]["parameters"][0] == "train"
    assert train["new_cluster"]["policy_id"] == "POLICY123"
    model = train["new_cluster"]["spark_env_vars"]["LABCTL_MODEL_NAME"]
    registry = tasks["model-registry"]["spark_python_task"]["parameters"]
    assert registry[:3] == ["promote", "--model", model]
    assert registry[registry.index("--aliases") + 1] == "challenger,champion"
    serving = tasks["model-serving"]["spark_python_task"]["parameters"]
    endpoint = ctx.results["model-serving"]["endpoint"]
    assert serving[serving.index("--endpoint") + 1] == endpoint
    assert job["schedule"] == {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC",
                               "pause_status": "UNPAUSED"}  # fmt: skip
    assert job["tags"]["labctl-lab"] == "feature-store-pipeline" and job["max_concurrent_runs"] == 1
    assert run_now["job_id"] == 900
    assert created_with[0][-1] == "pipeline"  # the job's row was written before it was created
    rows = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "pipeline"]
    job_row = next(r for r in rows if r.attrs.get("job_id") and not r.attrs.get("run_id"))
    run_row = next(r for r in rows if r.attrs.get("run_id") and r.attrs.get("job_id"))
    assert job_row.is_open and job_row.provider_id == "900"
    assert run_row.status == "SUCCESS" and not run_row.is_open and run_row.billable_seconds == 600
    result = ctx.results["ml-workflow"]
    assert result["tasks"] == order and result["job_id"] == 900


def test_down_cancels_the_workflow_before_the_endpoint_and_deletes_the_job(tmp_path, home):
    ctx = dlt_ctx(tmp_path)
    job = ctx.ledger.add_resource(ctx.run, kind="pipeline", name="labctl-x-ml-workflow",
                                  provider_id="900", attrs={"job_id": 900})  # fmt: skip
    endpoint = ctx.ledger.add_resource(ctx.run, kind="endpoint", name="labctl-x-model-serving")
    backend = dbx.DatabricksBackend(client=client())
    with rm.Mocker() as mock:
        ws = Workspace(mock)
        ws.endpoints["labctl-x-model-serving"] = {"polls": 0}
        backend.teardown(endpoint, ctx.ledger)
        backend.teardown(job, ctx.ledger)
        calls = [(r.method, r.path) for r in mock.request_history if "well-known" not in r.path]
    cancel = ("POST", "/api/2.2/jobs/runs/cancel-all")
    assert calls.index(cancel) < calls.index(("DELETE", "/api/2.0/serving-endpoints/"
                                                        "labctl-x-model-serving"))  # fmt: skip
    assert calls[-2:] == [cancel, ("POST", "/api/2.2/jobs/delete")]
    assert ws.bodies("POST", "/api/2.2/jobs/delete") == [{"job_id": 900}]


def test_a_pipeline_step_that_cannot_be_a_workflow_is_refused(home, monkeypatch):
    monkeypatch.setenv(unity.CATALOG_ENV, "none")
    lab = _lab("distributed-tuning")
    from labctl.catalog import PipelineStep

    flow = PipelineStep(name="flow", kind="pipeline", steps=["hyperopt-tune"])
    findings = dbx.DatabricksBackend(client=client()).check(
        lab.model_copy(update={"steps": [*lab.steps, flow]})
    )
    (refused,) = [f for f in findings if f.step == "flow"]
    assert refused.fatal and "hyperopt-tune cannot be tasks of a Workflows job" in refused.reason


@pytest.mark.slow  # MLflow creates its SQLite registry: ~20 s
def test_the_promote_task_moves_the_aliases_to_the_newest_version(tmp_path, monkeypatch):
    """The launcher's `promote` against a real (SQLite) MLflow registry."""
    import argparse

    monkeypatch.chdir(tmp_path)  # MLflow's default tracking store is ./mlflow.db

    mlflow = pytest.importorskip("mlflow")
    from labctl.backends.databricks import job

    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    client_ = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client_.create_registered_model("m")
    for _ in range(2):
        client_.create_model_version("m", source=str(tmp_path))
    args = argparse.Namespace(model="m", registry=uri, aliases="challenger,champion", endpoint="")
    result = job.cmd_promote(args)
    assert result == {"model": "m", "version": "2", "aliases": ["challenger", "champion"]}
    assert str(client_.get_model_version_by_alias("m", "champion").version) == "2"


def test_a_monitored_feature_table_gets_a_local_drift_report(tmp_path, monkeypatch):
    """The feature-store analogue hands the earlier and later days of a monitored table to
    `labctl.drift.drift_report` (a stand-in here: gcp17 writes labctl/drift.py) and writes its
    report beside the table."""
    import sys
    import types
    from types import SimpleNamespace

    import pandas as pd

    from labctl import datagen
    from labctl.analogues import databricks as analogues

    seen = {}

    def drift_report(baseline, current, thresholds=None):
        seen.update(baseline=baseline, current=current, thresholds=thresholds)
        return {"features": {c: {"drift": False} for c in baseline.columns}}

    monkeypatch.setitem(
        sys.modules, "labctl.drift", types.SimpleNamespace(drift_report=drift_report)
    )
    datagen.generate("ecommerce-transactions", rows=600, seed=2, out_dir=tmp_path / "data")
    ctx = SimpleNamespace(infra={"bucket": str(tmp_path / "bucket")}, workspace=tmp_path,
                          results={"ecommerce-data": {"dir": str(tmp_path / "data")}},
                          lab_name="feature-store-pipeline")  # fmt: skip
    step = _lab("feature-store-pipeline").step("feature-store")
    result = analogues.feature_store(step=step, ctx=ctx)["tables"]
    drift = result["customer_features"]["drift"]
    assert "drift" not in result["product_features"]  # only the monitored table
    report = json.loads(Path(drift["report"]).read_text())
    assert Path(drift["report"]).parent == Path(result["customer_features"]["dir"])
    assert set(report["features"]) == set(result["customer_features"]["features"])
    table = pd.read_parquet(result["customer_features"]["dir"])
    assert len(seen["baseline"]) + len(seen["current"]) == len(table) and seen["thresholds"] is None
    assert drift["baseline_rows"] == len(seen["baseline"]) > 0 and len(seen["current"]) > 0


def test_without_labctl_drift_the_report_is_skipped_not_failed(tmp_path, monkeypatch):
    import sys
    from types import SimpleNamespace

    from labctl import datagen
    from labctl.analogues import databricks as analogues

    monkeypatch.setitem(sys.modules, "labctl.drift", None)  # import fails
    datagen.generate("ecommerce-transactions", rows=300, seed=2, out_dir=tmp_path / "data")
    ctx = SimpleNamespace(infra={"bucket": str(tmp_path / "bucket")}, workspace=tmp_path,
                          results={"ecommerce-data": {"dir": str(tmp_path / "data")}},
                          lab_name="feature-store-pipeline")  # fmt: skip
    step = _lab("feature-store-pipeline").step("feature-store")
    result = analogues.feature_store(step=step, ctx=ctx)["tables"]
    assert "skipped" in result["customer_features"]["drift"]


@pytest.mark.parametrize(
    ("assignment", "said"),
    [({"metastore_id": "ms-1", "default_catalog_name": "ws_cat"}, "metastore ms-1, catalog ws_cat"),
     ({}, "none (the workspace has no Unity Catalog metastore assigned)")],
)  # fmt: skip
def test_doctor_says_whether_labs_get_unity_catalog(assignment, said, home, monkeypatch):
    monkeypatch.delenv(unity.CATALOG_ENV, raising=False)
    with rm.Mocker() as mock:
        mock.get(f"{HOST}/.well-known/databricks-config", status_code=404)
        mock.get(f"{HOST}/api/2.0/preview/scim/v2/Me", json={"userName": "ana@example.com"})
        mock.get(ASSIGNMENT, json=assignment)
        lines = dbx.doctor(client())
    (line,) = [x for x in lines if x[0] == "unity catalog"]
    assert line[1] is True and line[2].startswith(said)
