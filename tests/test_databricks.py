"""The databricks target against HTTP-level stubs of the REST API (requests-mock), no workspace.

databricks-sdk builds and sends every request for real (Config(host="http://localhost", token=...)
as its own tests do); the stubs answer runs/submit, a sequence of runs/get states, runs/get-output
(the launcher's result line), serving endpoints, the model registry and DBFS. The labs go up and
down through the CLI (in-process, so the stubs apply) with a stand-in `terraform` binary that
answers init/apply/output/destroy with the module's outputs; no real sleep anywhere.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests_mock as rm
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from typer.testing import CliRunner

from labctl import catalog as catalog_mod
from labctl import naming
from labctl.backends import databricks as dbx
from labctl.backends.base import Context, get_backend
from labctl.backends.databricks import client as dbx_client
from labctl.backends.databricks import runs as dbx_runs
from labctl.catalog import Variant
from labctl.errors import BackendError
from labctl.ledger import Ledger
from labctl.naming import TAG_KEYS
from labctl.prices import PriceBook
from labctl.progress import Reporter

pytestmark = pytest.mark.databricks

REPO = Path(__file__).resolve().parents[1]
HOST = "http://localhost"
LABS = ("feature-store-pipeline", "distributed-tuning")
OUTPUTS = {
    "cluster_policy_id": "POLICY123",
    "workspace_folder": "/Shared/labctl/tester-example-com/LAB",
    "experiment_id": "4242",
    "experiment_name": "/Shared/labctl/tester-example-com/LAB/experiment",
    "spark_version": "15.4.x-cpu-ml-scala2.12",
    "node_type_id": "i3.xlarge",
}


# --- the REST stub --------------------------------------------------------------------------------


class Workspace:
    """Stateful stubs of the endpoints labctl calls; records every request body."""

    def __init__(self, mock: rm.Mocker, *, states: tuple[str, ...] = ("PENDING", "RUNNING")):
        self.mock = mock
        self.states = states
        self.runs: dict[int, dict] = {}
        self.polls: dict[int, int] = {}
        self.endpoints: dict[str, dict] = {}
        self.uploads: list[str] = []
        self.next_id = 100
        m = mock
        m.get(f"{HOST}/.well-known/databricks-config", status_code=404)
        m.post(f"{HOST}/api/2.0/workspace/mkdirs", json={})
        m.post(f"{HOST}/api/2.0/workspace/import", json=self._import)
        m.post(f"{HOST}/api/2.2/jobs/runs/submit", json=self._submit)
        m.get(f"{HOST}/api/2.2/jobs/runs/get", json=self._get)
        m.get(f"{HOST}/api/2.2/jobs/runs/get-output", json=self._output)
        m.post(f"{HOST}/api/2.2/jobs/runs/cancel", json=self._cancel)
        m.post(f"{HOST}/api/2.0/serving-endpoints", json=self._create_endpoint)
        m.get(re.compile(rf"{HOST}/api/2.0/serving-endpoints/[\w-]+$"), json=self._get_endpoint)
        m.delete(re.compile(rf"{HOST}/api/2.0/serving-endpoints/[\w-]+$"), json=self._del_endpoint)
        m.post(f"{HOST}/api/2.0/mlflow/registered-models/alias", json={})
        m.delete(f"{HOST}/api/2.0/mlflow/registered-models/delete", json={})
        m.post(f"{HOST}/api/2.0/dbfs/delete", json={})
        # no Unity Catalog metastore (tests/test_db17_databricks.py covers a workspace with one)
        m.get(
            f"{HOST}/api/2.1/unity-catalog/current-metastore-assignment",
            status_code=404,
            json={"error_code": "METASTORE_DOES_NOT_EXIST", "message": "no metastore"},
        )
        # Delta Live Tables: an update that completes at once, an empty event log
        pipes = rf"{HOST}/api/2.0/pipelines/[\w-]+"
        m.post(re.compile(rf"{pipes}/updates$"), json={"update_id": "u-1"})
        m.get(re.compile(rf"{pipes}/updates/[\w-]+$"), json={"update": {"state": "COMPLETED"}})
        m.get(re.compile(rf"{pipes}/events"), json={"events": []})
        m.post(re.compile(rf"{pipes}/stop$"), json={})
        # the Workflows job of a `pipeline` step: created, run now (polled like any run), removed
        m.post(f"{HOST}/api/2.2/jobs/create", json={"job_id": 900})
        m.post(f"{HOST}/api/2.2/jobs/run-now", json=self._run_now)
        m.post(f"{HOST}/api/2.2/jobs/runs/cancel-all", json={})
        m.post(f"{HOST}/api/2.2/jobs/delete", json={})

    def bodies(self, method: str, path: str) -> list[dict]:
        return [
            r.json() if r.body else {}
            for r in self.mock.request_history
            if r.method == method and r.path == path
        ]

    def _import(self, request, context):
        fields = dict(re.findall(rb'name="(\w+)"\r\n\r\n([^\r]*)', request.body))
        self.uploads.append(fields[b"path"].decode())
        return {}

    def _submit(self, request, context):
        body = request.json()
        self.next_id += 1
        self.runs[self.next_id] = body
        self.polls[self.next_id] = 0
        return {"run_id": self.next_id}

    def _run_now(self, request, context):
        self.next_id += 1
        self.runs[self.next_id], self.polls[self.next_id] = request.json(), 0
        return {"run_id": self.next_id}

    def _run(self, run_id: int, life: str, result: str | None = None) -> dict:
        state = {"life_cycle_state": life, "state_message": ""}
        if result:
            state["result_state"] = result
        return {
            "run_id": run_id,
            "state": state,
            "start_time": 1_700_000_000_000,
            "end_time": 1_700_000_600_000 if life == "TERMINATED" else 0,
            "run_page_url": f"{HOST}/#job/runs/{run_id}",
            "tasks": [{"run_id": run_id * 10, "task_key": "main"}],
        }

    def _get(self, request, context):
        run_id = int(request.qs["run_id"][0])
        n = self.polls[run_id]
        self.polls[run_id] = n + 1
        if n < len(self.states):
            return self._run(run_id, self.states[n])
        return self._run(run_id, "TERMINATED", "SUCCESS")

    def _cancel(self, request, context):
        self.runs[request.json()["run_id"]]["cancelled"] = True
        return {}

    def _output(self, request, context):
        run_id = int(request.qs["run_id"][0]) // 10
        params = self.runs[run_id]["tasks"][0]["spark_python_task"]["parameters"]
        args = dict(zip(params[1::2], params[2::2], strict=False))
        env = self.runs[run_id]["tasks"][0]["new_cluster"]["spark_env_vars"]
        result: dict = {}
        tracking = {"mlflow_run_id": f"mlrun{run_id}", "mlflow_experiment_id": "4242"}
        if env.get("LABCTL_MODEL_NAME"):
            tracking["registered_model"] = {"name": env["LABCTL_MODEL_NAME"], "version": "1"}
        match params[0]:
            case "data":
                result = {"dir": args["--out"], "rows": int(args["--rows"]), "schema": {}}
            case "train":
                result = {"model_dir": args["--out"], "metrics": {"validation:rmse": 4.2,
                          "validation:auc": 0.8}, "tracking": tracking}  # fmt: skip
            case "tune":
                result = {"best_hyperparameters": {"max_depth": 7}, "trials": 20,
                          "metrics": {"validation:rmse": 4.0}, "model_dir": args["--out"],
                          "tracking": tracking}  # fmt: skip
            case "service":
                result = {"tables": {"customer_features": {"rows": 10}}}
        logs = "starting\n#metric validation:rmse=4.2\n" + dbx_runs.RESULT + json.dumps(result)
        return {"logs": logs, "metadata": {"run_id": run_id * 10}}

    def _create_endpoint(self, request, context):
        body = request.json()
        self.endpoints[body["name"]] = {"polls": 0, "body": body}
        return {"name": body["name"], "state": {"ready": "NOT_READY"}}

    def _get_endpoint(self, request, context):
        name = request.path.rsplit("/", 1)[1]
        ep = self.endpoints.get(name)
        if ep is None:
            context.status_code = 404
            return {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"{name} not found"}
        ep["polls"] += 1
        if ep["polls"] < 3:
            return {"name": name, "state": {"ready": "NOT_READY", "config_update": "IN_PROGRESS"}}
        return {"name": name, "state": {"ready": "READY", "config_update": "NOT_UPDATING"}}

    def _del_endpoint(self, request, context):
        name = request.path.rsplit("/", 1)[1]
        if self.endpoints.pop(name, None) is None:
            context.status_code = 404
            return {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"{name} not found"}
        return {}


@pytest.fixture
def dbx_env(home, monkeypatch):
    """Databricks unified auth from the environment, pointed at the stubs; no real sleep."""
    for var in [v for v in os.environ if v.startswith("DATABRICKS_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("DATABRICKS_HOST", HOST)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-secret-token")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(home.parent / "no-databrickscfg"))
    sleeps: list[float] = []
    monkeypatch.setattr(dbx_client, "_module_sleep", sleeps.append)
    with rm.Mocker() as mock:
        yield SimpleNamespace(mock=mock, sleeps=sleeps)


@pytest.fixture
def fake_terraform(tmp_path, monkeypatch):
    """A `terraform` that answers init/apply/output/destroy (the provider cannot be fetched)."""
    log = tmp_path / "tf.log"
    script = tmp_path / "terraform"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "if sys.argv[1] == 'output':\n"
        "    outputs = json.loads(os.environ['FAKE_TF_OUTPUTS'])\n"
        "    print(json.dumps({k: {'value': v} for k, v in outputs.items()}))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("LABCTL_TERRAFORM", str(script))
    return log


def cli(*args: str):
    from labctl.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result


def make_ctx(tmp_path, lab_name, *, rows=None, max_jobs=None):
    cat = catalog_mod.load(REPO / "labs.yaml")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    run = ledger.start_run(
        engineer="ana@example.com", lab=lab_name, target="databricks",
        workspace=str(tmp_path), region="us-east-1",
    )  # fmt: skip
    return Context(
        ledger=ledger, run=run, lab_name=lab_name, lab=cat.lab(lab_name), workspace=tmp_path,
        infra=dict(OUTPUTS), prices=PriceBook.load(), reporter=Reporter(), rows=rows,
        max_jobs=max_jobs,
    )  # fmt: skip


def client() -> WorkspaceClient:
    """A client on the stubs (made under a stub: the SDK asks the host for its metadata)."""
    with rm.Mocker() as mock:
        mock.get(f"{HOST}/.well-known/databricks-config", status_code=404)
        return WorkspaceClient(config=Config(host=HOST, token="dapi-secret-token"))


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# --- both labs up and down through the CLI ------------------------------------------------------


@pytest.mark.parametrize("lab_name", LABS)
def test_lab_up_and_down_through_the_cli(lab_name, dbx_env, fake_terraform, monkeypatch):
    outputs = {k: v.replace("LAB", lab_name) for k, v in OUTPUTS.items()}
    outputs["dlt_pipeline_ids"] = {"dlt-features": "pipe-1"}  # the module's pipeline (db17)
    monkeypatch.setenv("FAKE_TF_OUTPUTS", json.dumps(outputs))
    ws = Workspace(dbx_env.mock)
    up = cli("up", lab_name, "--target", "databricks", "--json", "--force")
    assert up.exit_code == 0, up.output
    result = json.loads(up.stdout[up.stdout.index("{") :])
    steps = result["steps"]
    tags = {"labctl-engineer": "tester-example-com", "labctl-lab": lab_name,
            "labctl-run": result["run"]}  # fmt: skip

    # Every run: a job cluster under the policy, the labctl tags, the uploaded launcher.
    submits = ws.bodies("POST", "/api/2.2/jobs/runs/submit")
    assert submits and all(b["run_name"].endswith(result["run"]) for b in submits)
    folder = outputs["workspace_folder"]
    for body in submits:
        (task,) = body["tasks"]
        cluster = task["new_cluster"]
        assert cluster["policy_id"] == "POLICY123"
        assert cluster["apply_policy_default_values"] is True
        assert {k: cluster["custom_tags"][k] for k in TAG_KEYS} == tags
        assert cluster["spark_version"] == outputs["spark_version"]
        assert cluster["spark_env_vars"]["MLFLOW_EXPERIMENT_ID"] == "4242"
        assert task["spark_python_task"] == {
            "python_file": f"{folder}/code/labctl_job.py",
            "parameters": task["spark_python_task"]["parameters"],
            "source": "WORKSPACE",
        }
        assert body["idempotency_token"] and len(body["idempotency_token"]) <= 64
        assert "dapi-secret-token" not in json.dumps(body)
    assert f"{folder}/code/labctl_job.py" in ws.uploads
    assert f"{folder}/code/labctl/entrypoints/contract.py" in ws.uploads
    # Runs were polled through PENDING and RUNNING with the injected sleep only.
    assert len(dbx_env.sleeps) >= 2 * len(submits)
    assert set(dbx_env.sleeps) == {dbx_client.POLL_SECONDS}

    ledger = Ledger()
    rows = ledger.run_resources(result["run"])
    jobs = [r for r in rows if r.kind in ("training-job", "tuning-job")]
    assert len(jobs) == len(submits)
    for r in jobs:
        assert r.status == "SUCCESS" and not r.is_open and r.billable_seconds == 600
        assert r.price_per_hour == pytest.approx(
            r.attrs["dbu_usd_per_hour"] + r.attrs["vm_usd_per_hour"]
        )
        assert r.attrs["vm_usd_per_hour"] > 0 and r.attrs["run_id"]

    if lab_name == "distributed-tuning":
        by_step = {b["run_name"].rsplit("-", 1)[0]: b["tasks"][0] for b in submits}
        distributed = by_step["train-distributed"]["new_cluster"]
        assert distributed["num_workers"] == 4 and distributed["node_type_id"] == "i3.xlarge"
        assert distributed["aws_attributes"] == {
            "availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1,
        }  # fmt: skip
        single = by_step["train-single-node"]["new_cluster"]
        assert single["num_workers"] == 0
        assert single["spark_conf"]["spark.master"] == "local[*]"
        assert single["custom_tags"]["ResourceClass"] == "SingleNode"
        tune = by_step["hyperopt-tune"]
        params = tune["spark_python_task"]["parameters"]
        spec = json.loads(params[params.index("--spec") + 1])
        assert spec["parallelism"] == 4 and spec["max_jobs"] == 20
        assert tune["new_cluster"]["num_workers"] == 4
        data = by_step["taxi-data"]["spark_python_task"]["parameters"]
        assert data[data.index("--rows") + 1] == "12000000"  # cloud_rows
        assert steps["train-distributed"]["tracking"]["mlflow_run_id"]
        assert steps["mlflow-tracking"]["experiment_id"] == "4242"
    else:
        (create,) = ws.bodies("POST", "/api/2.0/serving-endpoints")
        (entity,) = create["config"]["served_entities"]
        assert entity["scale_to_zero_enabled"] is True and "workload_size" not in entity
        # autoscaling 0-2 instances of cpu-small: provisioned concurrency 0-8 (4 per Small)
        assert entity["min_provisioned_concurrency"] == 0
        assert entity["max_provisioned_concurrency"] == 8
        assert entity["entity_name"].endswith("ecommerce_propensity")
        assert entity["entity_version"] == "1"
        assert {t["key"]: t["value"] for t in create["tags"]} == tags
        aliases = ws.bodies("POST", "/api/2.0/mlflow/registered-models/alias")
        assert [a["alias"] for a in aliases] == ["challenger", "champion"]
        (endpoint,) = [r for r in rows if r.kind == "endpoint"]
        assert endpoint.status == "READY" and endpoint.attrs["vm_usd_per_hour"] == 0
        assert endpoint.price_per_hour == pytest.approx(0.28)  # 4 DBU/h x $0.07, serverless
        assert steps["model-serving"]["scale_to_zero"] is True
        train = submits[[b["run_name"] for b in submits].index(
            f"train-propensity-{result['run']}")]["tasks"][0]  # fmt: skip
        assert train["new_cluster"]["spark_env_vars"]["LABCTL_MODEL_NAME"].endswith(
            "ecommerce_propensity"
        )

    # Nothing secret in the ledger or the rendered module.
    # Nothing secret in the ledger database, the rendered module or anything else labctl wrote.
    for path in Path(os.environ["LABCTL_HOME"]).rglob("*"):
        if path.is_file():
            assert b"dapi-secret-token" not in path.read_bytes(), path

    down = cli("down", lab_name, "--target", "databricks", "--yes")
    assert down.exit_code == 0, down.output
    assert not ws.endpoints
    assert ws.bodies("POST", "/api/2.0/dbfs/delete") == [
        {"path": f"dbfs:/labctl/tester-example-com/{lab_name}", "recursive": True}
    ]
    deleted_models = [
        r.qs["name"][0] for r in dbx_env.mock.request_history
        if r.path == "/api/2.0/mlflow/registered-models/delete"
    ]  # fmt: skip
    assert len(deleted_models) == (1 if lab_name == "feature-store-pipeline" else 3)
    prefix = naming.name_prefix("tester@example.com", lab_name)
    assert all(m.startswith(prefix) for m in deleted_models)
    assert "destroy" in fake_terraform.read_text()
    assert not ledger.open_resources(result["run"])


# --- waiting, interrupts, errors ------------------------------------------------------------------


def test_run_wait_times_out_with_an_injected_clock(tmp_path, home):
    ctx = make_ctx(tmp_path, "distributed-tuning", rows=1000)
    clock = Clock()
    backend = dbx.DatabricksBackend(client=client(), sleep=clock.sleep, clock=clock)
    with rm.Mocker() as mock:
        ws = Workspace(mock, states=("PENDING",) + ("RUNNING",) * 10_000)
        with pytest.raises(BackendError, match="still RUNNING after"):
            backend.run_step(ctx.lab.step("taxi-data"), ctx)
    assert clock.now >= 3600 and ws.runs
    (row,) = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "training-job"]
    assert row.is_open and row.status == "PENDING"  # still running: `down` cancels it
    with rm.Mocker() as mock:
        ws2 = Workspace(mock, states=("RUNNING",) * 5)
        ws2.runs[row.attrs["run_id"]] = {}
        ws2.polls[row.attrs["run_id"]] = 0
        backend.teardown(row, ctx.ledger)
        assert ws2.bodies("POST", "/api/2.2/jobs/runs/cancel") == [{"run_id": row.attrs["run_id"]}]


def test_interrupt_cancels_the_run(tmp_path, home):
    ctx = make_ctx(tmp_path, "distributed-tuning", rows=1000)

    def interrupt(_seconds):
        raise KeyboardInterrupt

    backend = dbx.DatabricksBackend(client=client(), sleep=interrupt, clock=lambda: 0.0)
    with rm.Mocker() as mock:
        ws = Workspace(mock)
        with pytest.raises(KeyboardInterrupt):
            backend.run_step(ctx.lab.step("taxi-data"), ctx)
        (run_id,) = ws.runs
        assert ws.bodies("POST", "/api/2.2/jobs/runs/cancel") == [{"run_id": run_id}]
    (row,) = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "training-job"]
    assert row.status == "CANCELED" and not row.is_open


def test_failed_run_names_the_step_and_keeps_the_ledger(tmp_path, home):
    ctx = make_ctx(tmp_path, "distributed-tuning", rows=1000)
    backend = dbx.DatabricksBackend(client=client(), sleep=lambda s: None)
    with rm.Mocker() as mock:
        Workspace(mock)
        failed = {"run_id": 101, "state": {"life_cycle_state": "TERMINATED", "result_state":
                  "FAILED", "state_message": "Cluster terminated: policy violation"},
                  "start_time": 1, "end_time": 2001, "tasks": [{"run_id": 1010}]}  # fmt: skip
        mock.get(f"{HOST}/api/2.2/jobs/runs/get", json=failed)
        with pytest.raises(BackendError, match=r"taxi-data.*FAILED: Cluster terminated") as err:
            backend.run_step(ctx.lab.step("taxi-data"), ctx)
    assert "labctl down distributed-tuning" in err.value.hint
    (row,) = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "training-job"]
    assert row.status == "FAILED" and row.billable_seconds == 2


def test_permission_denied_on_submit_is_a_clear_error(tmp_path, home):
    ctx = make_ctx(tmp_path, "distributed-tuning", rows=1000)
    backend = dbx.DatabricksBackend(client=client(), sleep=lambda s: None)
    with rm.Mocker() as mock:
        Workspace(mock)
        mock.post(
            f"{HOST}/api/2.2/jobs/runs/submit",
            status_code=403,
            json={"error_code": "PERMISSION_DENIED", "message": "no CAN_USE on policy"},
        )
        with pytest.raises(BackendError) as err:
            backend.run_step(ctx.lab.step("taxi-data"), ctx)
    assert "PERMISSION_DENIED" in err.value.message and "no CAN_USE" in err.value.message
    assert "cluster policy" in err.value.hint
    rows = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "training-job"]
    assert [r.status for r in rows] == ["not-created"]  # in the ledger before, closed after


def test_bad_token_and_missing_credentials(tmp_path, home, monkeypatch):
    ctx = make_ctx(tmp_path, "distributed-tuning", rows=1000)
    backend = dbx.DatabricksBackend(client=client(), sleep=lambda s: None)
    with rm.Mocker() as mock:
        mock.post(
            f"{HOST}/api/2.0/workspace/mkdirs",
            status_code=401,
            json={"error_code": "UNAUTHENTICATED", "message": "Invalid access token"},
        )
        with pytest.raises(BackendError) as err:
            backend.run_step(ctx.lab.step("taxi-data"), ctx)
    assert "databricks auth login" in err.value.hint
    assert "dapi-secret-token" not in err.value.message
    for var in [v for v in os.environ if v.startswith("DATABRICKS_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(BackendError, match="no usable Databricks credentials") as err:
        _ = dbx.DatabricksBackend().w
    assert "DATABRICKS_HOST" in err.value.hint


def test_teardown_of_what_is_already_gone(tmp_path, home):
    ctx = make_ctx(tmp_path, "feature-store-pipeline")
    backend = dbx.DatabricksBackend(client=client(), sleep=lambda s: None)
    gone = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "does not exist"}
    with rm.Mocker() as mock:
        Workspace(mock)
        mock.delete(f"{HOST}/api/2.0/mlflow/registered-models/delete", status_code=404, json=gone)
        mock.post(f"{HOST}/api/2.0/dbfs/delete", status_code=404, json=gone)
        mock.get(
            f"{HOST}/api/2.2/jobs/runs/get",
            status_code=400,
            json={"error_code": "INVALID_PARAMETER_VALUE", "message": "Run 7 does not exist"},
        )
        for kind, name, attrs in [
            ("endpoint", "ep-x", {}),
            ("model", "m-x", {}),
            ("bucket", "dbfs:/labctl/a/b", {}),
        ]:
            res = ctx.ledger.add_resource(ctx.run, kind=kind, name=name, attrs=attrs)
            backend.teardown(res, ctx.ledger)  # no error: already gone counts as deleted


def test_invoke_sends_instances(tmp_path, home):
    ctx = make_ctx(tmp_path, "feature-store-pipeline")
    backend = dbx.DatabricksBackend(client=client())
    res = ctx.ledger.add_resource(ctx.run, kind="endpoint", name="ep-x")
    with rm.Mocker() as mock:
        mock.post(f"{HOST}/serving-endpoints/ep-x/invocations", json={"predictions": [0.25]})
        out = backend.invoke(res, b"1,2,3\n4,5,6\n", "text/csv", "application/json")
        assert mock.last_request.json() == {"instances": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}
    assert json.loads(out) == {"predictions": [0.25]}


def test_doctor(home):
    with rm.Mocker() as mock:
        mock.get(f"{HOST}/api/2.0/preview/scim/v2/Me", json={"userName": "ana@example.com"})
        mock.get(f"{HOST}/api/2.1/unity-catalog/current-metastore-assignment", json={})
        lines = dbx.doctor(client())
    assert lines[0][:2] == ("credentials", True) and "pat" in lines[0][2]
    assert lines[1] == ("workspace", True, f"{HOST} as ana@example.com")


def test_check_warns_about_what_is_not_managed_yet():
    backend = dbx.DatabricksBackend(client=client())
    cat = catalog_mod.load(REPO / "labs.yaml")
    with rm.Mocker() as mock:
        Workspace(mock)  # a workspace without Unity Catalog
        for lab in LABS:
            findings = backend.check(cat.lab(lab))
            assert not [f for f in findings if f.fatal], findings
        notes = {f.step: f.reason for f in backend.check(cat.lab("feature-store-pipeline"))}
    assert "dlt-features" not in notes  # a real pipeline now (tests/test_db17_databricks.py)
    assert "Parquet" in notes["feature-store"] and "Unity Catalog" in notes["model-serving"]


def test_get_backend_needs_no_credentials_until_used(home, monkeypatch):
    for var in [v for v in os.environ if v.startswith("DATABRICKS_")]:
        monkeypatch.delenv(var)
    backend = get_backend("databricks")
    assert backend.name == "databricks" and backend._w is None


# --- the module ---------------------------------------------------------------------------------


def test_rendered_root_module(tmp_path, home, monkeypatch):
    cfg = tmp_path / "labctl.toml"
    cfg.write_text('[databricks]\nprofile = "lab-ws"\n')
    monkeypatch.setenv("LABCTL_CONFIG", str(cfg))
    from labctl import config

    config.settings.cache_clear()
    out = tmp_path / "render"
    result = cli("render", "distributed-tuning", "--target", "databricks", "--out", str(out))
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "main.tf.json").read_text())
    assert doc["provider"] == {"databricks": {"profile": "lab-ws"}}  # never a host or token
    assert doc["terraform"]["required_providers"]["databricks"]["source"] == "databricks/databricks"
    module = doc["module"]["lab"]
    assert module["source"] == "./modules/databricks"
    assert set(module["tags"]) == set(TAG_KEYS)
    assert module["lab"] == "distributed-tuning"
    assert set(doc["output"]) >= {
        "cluster_policy_id", "workspace_folder", "experiment_id", "spark_version", "node_type_id",
    }  # fmt: skip
    copied = out / "modules" / "databricks"
    tf = "".join(p.read_text() for p in copied.glob("*.tf"))
    assert "databricks_cluster_policy" in tf and "databricks_mlflow_experiment" in tf
    assert 'type   = "fixed"' in tf and "custom_tags.${k}" in tf
    assert "token" not in json.dumps(doc).lower()
    config.settings.cache_clear()


def test_module_is_terraform_fmt_clean():
    binary = Path("/usr/local/bin/terraform")
    if not binary.is_file():
        pytest.skip("no terraform binary at /usr/local/bin/terraform")
    proc = subprocess.run(
        [str(binary), "fmt", "-check", "-diff", str(REPO / "terraform/modules/databricks")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- cloud fidelity (issue 12) ------------------------------------------------------------------


def _use_cloud(tmp_path, monkeypatch, cloud: str) -> None:
    from labctl import config

    cfg = tmp_path / f"labctl-{cloud}.toml"
    cfg.write_text(f'[databricks]\ncloud = "{cloud}"\n')
    monkeypatch.setenv("LABCTL_CONFIG", str(cfg))
    config.settings.cache_clear()


@pytest.mark.parametrize(
    ("cloud", "attributes", "spot", "on_demand", "node"),
    [
        ("aws", "aws_attributes", "SPOT_WITH_FALLBACK", "ON_DEMAND", "i3.xlarge"),
        ("azure", "azure_attributes", "SPOT_WITH_FALLBACK_AZURE", "ON_DEMAND_AZURE",
         "Standard_E4ds_v5"),
        ("gcp", "gcp_attributes", "PREEMPTIBLE_WITH_FALLBACK_GCP", "ON_DEMAND_GCP",
         "n2-highmem-4"),
    ],
)  # fmt: skip
def test_job_clusters_follow_the_workspace_cloud(
    tmp_path, home, monkeypatch, cloud, attributes, spot, on_demand, node
):
    """Spot and node types per cloud; spot in the ledger only where a cluster really asks for it
    (workers: the driver stays on demand); never `autotermination_minutes` on a job cluster."""
    _use_cloud(tmp_path, monkeypatch, cloud)
    ctx = make_ctx(tmp_path, "distributed-tuning")
    ctx.results["taxi-data"] = {"dir": "/dbfs/labctl/x/data/taxi-data", "dbfs_uri": "dbfs:/x"}
    backend = dbx.DatabricksBackend(client=client(), sleep=lambda s: None)
    with rm.Mocker() as mock:
        ws = Workspace(mock)
        for name in ("train-distributed", "train-single-node"):  # both ask for spot
            backend.run_step(ctx.lab.step(name), ctx)
    multi, single = (body["tasks"][0]["new_cluster"] for body in ws.runs.values())
    others = {"aws_attributes", "azure_attributes", "gcp_attributes"} - {attributes}
    for cluster in (multi, single):
        assert cluster["node_type_id"] == cluster["driver_node_type_id"] == node
        assert not others & set(cluster) and "autotermination_minutes" not in cluster
        assert cluster[attributes]["first_on_demand"] == 1
    assert multi["num_workers"] == 4 and multi[attributes]["availability"] == spot
    assert single["num_workers"] == 0 and single[attributes]["availability"] == on_demand
    rows = {r.name.rsplit("-", 1)[0]: r for r in ctx.ledger.run_resources(ctx.run.id)
            if r.kind == "training-job"}  # fmt: skip
    assert rows["train-distributed"].spot and not rows["train-single-node"].spot
    assert rows["train-distributed"].instance_type == "i3.xlarge"  # priced as the catalog's
    assert (rows["train-distributed"].attrs or {}).get("node_type_id", "i3.xlarge") == node


def test_check_names_what_databricks_approximates(tmp_path, home, monkeypatch):
    monkeypatch.setenv("LABCTL_DATABRICKS_CATALOG", "none")  # no metastore probe: no workspace
    cat = catalog_mod.load(REPO / "labs.yaml")
    backend = dbx.DatabricksBackend(client=client())
    lab = cat.lab("distributed-tuning")
    tune = lab.step("hyperopt-tune")
    for strategy in ("grid", "hyperband"):
        steps = [tune.model_copy(update={"strategy": strategy, "early_stopping": True})]
        found = backend.check(lab.model_copy(update={"steps": steps}))
        reasons = [f.reason for f in found if f.step == "hyperopt-tune"]
        assert any(f"'{strategy}' strategy runs as Optuna TPE" in r for r in reasons), found
        assert any("early_stopping is not applied" in r for r in reasons)
        assert not any(f.fatal for f in found)
    single = [f for f in backend.check(lab) if f.step == "train-single-node"]
    assert [f.fatal for f in single] == [False] and "runs on demand" in single[0].reason

    serving = cat.lab("feature-store-pipeline")
    deploy = serving.step("model-serving")
    variants = [
        {"name": "current", "model": "train-propensity", "weight": 0.9},
        {"name": "challenger", "model": "train-propensity", "weight": 0.1},
    ]
    two = deploy.model_copy(update={"variants": [Variant(**v) for v in variants]})
    notes = [f for f in backend.check(serving.model_copy(update={"steps": [two]}))
             if f.step == "model-serving"]  # fmt: skip
    assert any("only variant 'current'" in f.reason and "1 variant(s)" in f.reason for f in notes)
    assert not any("autoscaling" in f.reason for f in notes)  # provisioned concurrency now
    assert not any(f.fatal for f in notes)

    _use_cloud(tmp_path, monkeypatch, "azure")
    odd = lab.step("train-distributed").model_copy(update={"instance_type": "p3.2xlarge"})
    (fatal,) = [f for f in backend.check(lab.model_copy(update={"steps": [odd]})) if f.fatal]
    assert "no azure node type for 'p3.2xlarge'" in fatal.reason
    # a SageMaker type on an aws workspace is said, not a KeyError (plan crashed on it)
    _use_cloud(tmp_path, monkeypatch, "aws")
    sagemaker = odd.model_copy(update={"instance_type": "ml.p4d.24xlarge"})
    (fatal,) = [f for f in backend.check(lab.model_copy(update={"steps": [sagemaker]})) if f.fatal]
    assert "'ml.p4d.24xlarge' is a SageMaker instance type" in fatal.reason
    assert "e.g. i3.xlarge" in fatal.reason


def test_registered_model_row_is_created_once_its_version_exists(tmp_path, home):
    ctx = make_ctx(tmp_path, "distributed-tuning")
    ctx.results["taxi-data"] = {"dir": "/dbfs/labctl/x/data/taxi-data", "dbfs_uri": "dbfs:/x"}
    backend = dbx.DatabricksBackend(client=client(), sleep=lambda s: None)
    with rm.Mocker() as mock:
        Workspace(mock)
        backend.run_step(ctx.lab.step("train-single-node"), ctx)
    (model,) = [r for r in ctx.ledger.run_resources(ctx.run.id) if r.kind == "model"]
    assert model.status == "created" and model.is_open  # open until `down` deletes it


def test_teardown_cancels_a_running_run_before_deleting_the_models_it_writes(tmp_path, home):
    ctx = make_ctx(tmp_path, "distributed-tuning")
    tune = ctx.ledger.add_resource(ctx.run, kind="tuning-job", name="hyperopt-tune-r1",
                                   provider_id="555", attrs={"run_id": 555})  # fmt: skip
    model = ctx.ledger.add_resource(ctx.run, kind="model", name="labctl-m", provider_id="labctl-m")
    clock = Clock()
    backend = dbx.DatabricksBackend(client=client(), sleep=clock.sleep, clock=clock)
    with rm.Mocker() as mock:
        ws = Workspace(mock, states=("RUNNING", "RUNNING"))
        ws.runs[555], ws.polls[555] = {}, 0
        backend.teardown(model, ctx.ledger)  # `down` takes models before jobs
        calls = [(r.method, r.path) for r in mock.request_history if "well-known" not in r.path]
    cancel = calls.index(("POST", "/api/2.2/jobs/runs/cancel"))
    delete = calls.index(("DELETE", "/api/2.0/mlflow/registered-models/delete"))
    assert cancel < delete and ws.runs[555]["cancelled"]
    # it waited for the run to end before deleting: a get after the cancel said TERMINATED
    assert ("GET", "/api/2.2/jobs/runs/get") in calls[cancel:delete] and clock.slept
    with rm.Mocker() as mock:
        ws = Workspace(mock, states=())
        ws.runs[555], ws.polls[555] = {}, 0
        backend.teardown(tune, ctx.ledger)  # then the run itself: over, nothing to cancel
        assert not ws.bodies("POST", "/api/2.2/jobs/runs/cancel")
