"""Databricks expiry (issue 13): at the deadline the lab's job runs the shipped task, which
deletes the lab's serving endpoints and then the job itself.

The databricks module's provider-free `expiry` module is applied with Terraform itself on the
inputs `up` renders; the task file it names is run with the job's parameters (the `{{job.id}}`
reference resolved as Databricks does) against a real WorkspaceClient on HTTP stubs of the REST
API (requests_mock, as tests/test_databricks.py does).
"""

from __future__ import annotations

import importlib.util
import os

import _expiry
import pytest
import requests_mock as rm

from labctl import config, orchestrator
from labctl.backends.base import backend_for_render

pytest.importorskip("databricks.sdk")
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import DatabricksError

pytestmark = pytest.mark.databricks

HOST = "http://localhost"
DEADLINE = "2026-12-01T19:05:00Z"
ENGINEER = "ana@example.com"
LAB = "feature-store-pipeline"
JOB_ID = 4321
MODULE = _expiry.MODULES / "databricks"


@pytest.fixture
def dbx_home(home, monkeypatch):
    for var in [v for v in os.environ if v.startswith("DATABRICKS_")]:
        monkeypatch.delenv(var)
    config.settings.cache_clear()
    return home


def rendered(tmp_path, autostop_at):
    backend = backend_for_render("databricks")
    lab = orchestrator.catalog_mod.load(None).lab(LAB)
    module = orchestrator.root_module(
        backend, engineer=ENGINEER, lab=LAB, run_id="r1a2b3", ws=tmp_path, spec=lab
    )
    if autostop_at:
        module.inputs["autostop_at"] = autostop_at  # until the `autostop` input lands
    return module.document()["module"]["lab"]


def task_main(script_path):
    spec = importlib.util.spec_from_file_location("expire_endpoints", script_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def client() -> WorkspaceClient:
    with rm.Mocker() as mock:
        mock.get(f"{HOST}/.well-known/databricks-config", status_code=404)
        return WorkspaceClient(config=Config(host=HOST, token="dapi-secret-token"))


def job_arguments(parameters):
    """The task's argv as Databricks passes it: dynamic value references resolved."""
    return [p.replace("{{job.id}}", str(JOB_ID)) for p in parameters]


ERRORS = {404: "RESOURCE_DOES_NOT_EXIST", 403: "PERMISSION_DENIED"}


def run_task(tmp_path, inputs, endpoint_status=200):
    """Evaluate the expiry module, run its task file against stubs; (outputs, exit code or the
    error that failed the run, the requests it made)."""
    out = _expiry.evaluate(
        "databricks",
        tmp_path / "tf",
        autostop_at=inputs.get("autostop_at"),
        endpoint_names=inputs["endpoint_names"],
    )
    main = task_main(MODULE / out["script"])
    answer = {"json": {}}
    if endpoint_status != 200:
        error = {"error_code": ERRORS[endpoint_status], "message": "stubbed"}
        answer = {"status_code": endpoint_status, "json": error}
    w = client()
    with rm.Mocker() as mock:
        for name in inputs["endpoint_names"]:
            mock.delete(f"{HOST}/api/2.0/serving-endpoints/{name}", **answer)
        mock.post(f"{HOST}/api/2.2/jobs/delete", json={})
        try:
            code = main(job_arguments(out["parameters"]), client=w)
        except DatabricksError as exc:  # the run fails
            code = exc
        calls = [(r.method, r.path, r.json() if r.body else None) for r in mock.request_history]
    return out, code, calls


def test_the_task_deletes_the_labs_endpoint_then_its_job(tmp_path, dbx_home):
    from labctl.backends.databricks.names import endpoint_name

    inputs = rendered(tmp_path, DEADLINE)
    # the name the deploy step gives the endpoint (`serving.deploy` calls the same function)
    assert inputs["endpoint_names"] == [endpoint_name(ENGINEER, LAB, "model-serving")]
    out, code, calls = run_task(tmp_path, inputs)
    assert out["enabled"] is True
    assert (out["quartz_cron_expression"], out["timezone_id"]) == ("0 5 19 1 12 ?", "UTC")
    assert code == 0
    assert calls == [
        ("DELETE", f"/api/2.0/serving-endpoints/{inputs['endpoint_names'][0]}", None),
        ("POST", "/api/2.2/jobs/delete", {"job_id": JOB_ID}),
    ]


def test_an_endpoint_already_gone_still_deletes_the_job(tmp_path, dbx_home):
    _, code, calls = run_task(tmp_path, rendered(tmp_path, DEADLINE), endpoint_status=404)
    assert code == 0
    assert calls[-1] == ("POST", "/api/2.2/jobs/delete", {"job_id": JOB_ID})


def test_an_endpoint_that_will_not_go_fails_the_run_and_keeps_the_job(tmp_path, dbx_home):
    """The run fails (the job retries it); the job is not deleted, so nothing is forgotten."""
    _, error, calls = run_task(tmp_path, rendered(tmp_path, DEADLINE), endpoint_status=403)
    assert isinstance(error, DatabricksError)
    assert [path for _, path, _ in calls if "jobs" in path] == []


def test_the_job_runs_the_shipped_task_at_the_modules_schedule():
    """expiry.tf wires the evaluated values: the schedule, the parameters, the uploaded file;
    tags are the labctl ones, the cluster is under the lab's policy."""
    job = _expiry.resource("databricks", "databricks_job")
    schedule = job["schedule"][0]
    assert schedule["quartz_cron_expression"] == "${module.expiry.quartz_cron_expression}"
    assert schedule["timezone_id"] == "${module.expiry.timezone_id}"
    assert job["tags"] == "${local.cluster_tags}"
    task = job["task"][0]
    assert task["spark_python_task"][0]["parameters"] == "${module.expiry.parameters}"
    assert task["spark_python_task"][0]["python_file"] == (
        "${databricks_workspace_file.expiry[0].path}"
    )
    assert task["new_cluster"][0]["policy_id"] == "${databricks_cluster_policy.lab.id}"
    uploaded = _expiry.resource("databricks", "databricks_workspace_file")
    assert uploaded["source"] == "${module.expiry.script}"


def test_no_deadline_renders_no_job(tmp_path, dbx_home):
    inputs = rendered(tmp_path, None)
    assert "autostop_at" not in inputs
    out = _expiry.evaluate("databricks", tmp_path / "tf", endpoint_names=inputs["endpoint_names"])
    assert out["enabled"] is False
    assert "quartz_cron_expression" not in out  # null
