"""Expiry across the three cloud modules (issue 13): nothing without a deadline, everything in
the lab's stack so `labctl down` (terraform destroy) removes it.

The cloud providers cannot be initialised offline, so no real plan is made: each target's
`expiry.tf` is read (python-hcl2) and its provider-free `expiry` module applied with Terraform
(`_expiry.evaluate`). Every expiry resource's count/for_each is an output of that module, which
Terraform evaluates to nothing for a null deadline; every one is a managed resource of the lab
module the root module calls (so in the stack's state, which destroy empties), none is protected
from destroy, and the root module passes the deadline and the endpoint names to that module.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import _expiry
import pytest

from labctl import orchestrator
from labctl.backends.aws.names import quality_job_prefix, sm_name
from labctl.backends.base import backend_for_render
from labctl.backends.databricks.names import endpoint_name
from labctl.terraform import module_variables

REPO = Path(__file__).resolve().parents[1]
TARGETS = ("aws", "gcp", "databricks")
# the inputs each expiry module needs besides the deadline
OTHER_INPUTS = {
    "aws": {
        "endpoint_names": ["e-r1"],
        "partition": "aws",
        "region": "eu-west-1",
        "account_id": "123456789012",
    },
    "gcp": {
        "project": "p",
        "region": "europe-west4",
        "job_name": "j",
        "labels": {"labctl-engineer": "a", "labctl-lab": "l", "labctl-run": "r1"},
    },
    "databricks": {"endpoint_names": ["e-r1"]},
}
LAB = {"aws": "churn-pipeline", "gcp": "movie-recommender", "databricks": "feature-store-pipeline"}


@pytest.mark.parametrize("target", TARGETS)
def test_every_expiry_resource_is_guarded_by_the_deadline(target, tmp_path):
    resources = _expiry.resources(target)
    assert resources
    guards = {}
    for address, body in resources.items():
        guard = body.get("count", body.get("for_each"))
        assert guard is not None, f"{address}: made without a deadline"
        assert "module.expiry." in guard, f"{address}: not guarded by the expiry module"
        guards[address] = guard
    off = _expiry.evaluate(target, tmp_path / "off", **OTHER_INPUTS[target])
    on = _expiry.evaluate(target, tmp_path / "on", autostop_at="2026-12-01T19:05:00Z",
                          **OTHER_INPUTS[target])  # fmt: skip
    assert off["enabled"] is False and on["enabled"] is True
    if target == "aws":  # the schedules are keyed by endpoint
        assert off["schedules"] == {} and list(on["schedules"]) == ["e-r1"]
    for guard in guards.values():
        assert any(f"module.expiry.{o}" in guard for o in ("enabled", "schedules"))


@pytest.mark.parametrize("target", TARGETS)
def test_down_destroys_them_with_the_stack(target):
    """Managed resources of the lab module, never protected from destroy; the scheduler jobs
    and jobs that already removed themselves are simply gone when destroy refreshes."""
    for address, body in _expiry.resources(target).items():
        for lifecycle in body.get("lifecycle", []):
            assert not lifecycle.get("prevent_destroy"), address
        if address.startswith("google_workflows_workflow."):
            assert body["deletion_protection"] is False, "google 7.x protects workflows"


@pytest.mark.parametrize("target", TARGETS)
def test_the_root_module_gives_the_lab_module_the_deadline_and_endpoints(target, tmp_path, home):
    assert {"autostop_at"} <= module_variables(target)
    backend = backend_for_render(target)
    if target == "gcp":
        backend._project = "p"
    lab = orchestrator.catalog_mod.load(None).lab(LAB[target])
    module = orchestrator.root_module(
        backend, engineer="ana@example.com", lab=LAB[target], run_id="r1", ws=tmp_path, spec=lab
    )
    module.inputs["autostop_at"] = "2026-12-01T19:05:00Z"  # until the `autostop` input lands
    block = module.document()["module"]["lab"]
    assert block["autostop_at"] == "2026-12-01T19:05:00Z"
    if target != "gcp":  # gcp finds the run's endpoints by label
        assert block["endpoint_names"]


def test_the_local_target_has_no_cloud_expiry(tmp_path, home):
    """The local target keeps `cost enforce`: no expiry inputs, no expiry variables."""
    backend = backend_for_render("local")
    lab = orchestrator.catalog_mod.load(None).lab("churn-pipeline")
    assert backend.run_inputs(lab, lab_name="churn-pipeline", engineer="a", run_id="r") == {}
    assert "endpoint_names" not in module_variables("local")


def test_the_endpoint_names_need_no_sdk(tmp_path):
    """`labctl render`/`plan` name the endpoints (and AWS quality-check jobs) without boto3 or
    databricks-sdk installed."""
    code = (
        "import sys\n"
        "for m in ('boto3', 'botocore', 'databricks.sdk', 'databricks'): sys.modules[m] = None\n"
        "from labctl import catalog\n"
        "from labctl.backends.modules import AwsModule, DatabricksModule\n"
        "for name, mixin in (('churn-pipeline', AwsModule), ('feature-store-pipeline',"
        " DatabricksModule)):\n"
        "    lab = catalog.load(None).lab(name)\n"
        "    print(mixin().run_inputs(lab, lab_name=name, engineer='a@b.co', run_id='r1'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout  # fmt: skip
    assert out.splitlines() == [
        str(
            {
                "endpoint_names": [sm_name("endpoint", "r1")],
                "quality_job_prefixes": [quality_job_prefix("model-monitor", "r1")],
            }
        ),
        str(
            {"endpoint_names": [endpoint_name("a@b.co", "feature-store-pipeline", "model-serving")]}
        ),
    ]
