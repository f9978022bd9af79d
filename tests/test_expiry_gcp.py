"""Google Cloud expiry (issue 13): the workflow Cloud Scheduler runs at the deadline undeploys
every model of the run's endpoints, deletes them, then deletes its scheduler job.

The gcp module's provider-free `expiry` module is applied with Terraform itself on the inputs
`up` renders; the workflow source it carries is parsed (YAML) and run by a small Workflows
interpreter (`_workflows`) against a fake Vertex AI. Each connector call is checked against the
aiplatform v1 REST binding (google-cloud-aiplatform's own `rest_base` http rules): its path
parameter matches the URI template, and path parameter, query arguments and body parse into the
method's request message (`json_format`, unknown fields refused); the fake then acts on that
message, enforcing Vertex's rules (no undeploy of a model that keeps traffic, no delete of an
endpoint with deployed models).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import _expiry
import pytest
import yaml
from _workflows import Workflow, WorkflowError

from labctl import config, naming, orchestrator
from labctl.backends.base import backend_for_render

aip = pytest.importorskip("google.cloud.aiplatform_v1")
from google.cloud.aiplatform_v1.services.endpoint_service.transports import (  # noqa: E402
    rest_base,
)
from google.protobuf import json_format  # noqa: E402

pytestmark = pytest.mark.gcp

DEADLINE = "2026-12-01T19:05:00Z"
ENGINEER = "ana@example.com"
PROJECT, REGION = "lab-project", "europe-west4"
CONNECTOR = "googleapis.aiplatform.v1.projects.locations.endpoints."
# connector method -> (request message, rest_base class of its http rule)
METHODS = {
    "list": (
        aip.ListEndpointsRequest,
        rest_base._BaseEndpointServiceRestTransport._BaseListEndpoints,
    ),
    "undeployModel": (
        aip.UndeployModelRequest,
        rest_base._BaseEndpointServiceRestTransport._BaseUndeployModel,
    ),
    "delete": (
        aip.DeleteEndpointRequest,
        rest_base._BaseEndpointServiceRestTransport._BaseDeleteEndpoint,
    ),
}
# what each call of the workflow needs (Vertex AI and Cloud Scheduler IAM permissions)
PERMISSIONS = {
    "list": "aiplatform.endpoints.list",
    "undeployModel": "aiplatform.endpoints.undeploy",
    "delete": "aiplatform.endpoints.delete",
    "scheduler.delete": "cloudscheduler.jobs.delete",
}


def rest_request(method: str, args: dict):
    """The request message a connector call stands for, checked against the REST binding."""
    message, binding = METHODS[method]
    [rule] = binding._get_http_options()
    field, pattern = re.search(r"\{(\w+)=([^}]+)\}", rule["uri"]).groups()
    assert field in args, (method, field, args)
    regex = "^" + re.escape(pattern).replace(r"\*", "[^/]+") + "$"
    assert re.match(regex, args[field]), (method, args[field], rule["uri"])
    assert args["region"] == args[field].split("/")[3], "the connector's region is the resource's"
    fields = {field: args[field]}
    if rule.get("body") == "*":
        fields |= args.get("body") or {}
    else:
        assert "body" not in args, f"{method} takes no body"
    fields |= {k: v for k, v in args.items() if k not in (field, "region", "body")}
    request = message()
    json_format.ParseDict(json.loads(json.dumps(fields)), message.pb(request))
    return request


class FakeVertex:
    """Endpoints in one project/region; lists one per page (so paging is exercised)."""

    def __init__(self) -> None:
        self.endpoints: dict[str, dict] = {}
        self.calls: list[tuple[str, object]] = []
        self.deleted_jobs: list[str] = []

    def add(self, number: int, labels: dict[str, str], split: dict[str, int]) -> str:
        name = f"projects/{PROJECT}/locations/{REGION}/endpoints/{number}"
        self.endpoints[name] = {"labels": labels, "split": dict(split), "models": list(split)}
        return name

    def as_rest(self, name: str) -> dict:
        ep = self.endpoints[name]
        return {
            "name": name,
            "labels": ep["labels"],
            "deployedModels": [{"id": m} for m in ep["models"]],
            "trafficSplit": ep["split"],
        }

    def __call__(self, call: str, args: dict):
        if call == "googleapis.cloudscheduler.v1.projects.locations.jobs.delete":
            self.calls.append(("scheduler.delete", args["name"]))
            self.deleted_jobs.append(args["name"])
            return {}
        assert call.startswith(CONNECTOR), call
        method = call.removeprefix(CONNECTOR)
        request = rest_request(method, args)
        self.calls.append((method, request))
        if method == "list":
            names = sorted(self.endpoints)
            start = int(request.page_token or 0)
            page = {"endpoints": [self.as_rest(n) for n in names[start : start + 1]]}
            if start + 1 < len(names):
                page["nextPageToken"] = str(start + 1)
            return page
        ep = self.endpoints[request.endpoint if method == "undeployModel" else request.name]
        if method == "undeployModel":
            gone = request.deployed_model_id
            assert gone in ep["models"]
            rest = [m for m in ep["models"] if m != gone]
            split = dict(request.traffic_split) if request.traffic_split else None
            if split is not None:
                assert set(split) <= set(rest) and sum(split.values()) == 100, split
                ep["split"] = split
            elif rest and ep["split"].get(gone, 0) > 0:
                raise WorkflowError({"code": 400, "message": f"{gone} still has traffic"})
            else:
                ep["split"] = {m: p for m, p in ep["split"].items() if m != gone}
            ep["models"] = rest
            return {}
        if ep["models"]:  # delete
            raise WorkflowError({"code": 400, "message": "the endpoint has deployed models"})
        del self.endpoints[request.name]
        return {}


@pytest.fixture
def gcp_config(home, monkeypatch, tmp_path):
    path = tmp_path / "labctl.toml"
    path.write_text(f'[gcp]\nproject = "{PROJECT}"\nregion = "{REGION}"\n')
    monkeypatch.setenv("LABCTL_CONFIG", str(path))
    config.settings.cache_clear()
    yield
    config.settings.cache_clear()


def rendered(tmp_path: Path, run_id: str, autostop_at: str | None) -> dict:
    """`module.lab` of the root module `up` writes for movie-recommender on gcp."""
    backend = backend_for_render("gcp")
    lab = orchestrator.catalog_mod.load(None).lab("movie-recommender")
    module = orchestrator.root_module(
        backend, engineer=ENGINEER, lab="movie-recommender", run_id=run_id, ws=tmp_path, spec=lab
    )
    if autostop_at:
        module.inputs["autostop_at"] = autostop_at  # until the `autostop` input lands
    return module.document()["module"]["lab"]


def evaluate(tmp_path: Path, inputs: dict) -> dict:
    """The expiry module as expiry.tf calls it (labels = merge(tags, labels))."""
    return _expiry.evaluate(
        "gcp",
        tmp_path / "tf",
        autostop_at=inputs.get("autostop_at"),
        project=inputs["project"],
        region=inputs["region"],
        labels=inputs["tags"] | inputs["labels"],
        job_name="labctl-ana-movie-recommender-expiry-1a2b3c4d",
    )


def test_the_workflow_undeploys_every_model_then_deletes_the_runs_endpoints(tmp_path, gcp_config):
    inputs = rendered(tmp_path, "r1a2b3", DEADLINE)
    assert (inputs["project"], inputs["region"], inputs["autostop_at"]) == (
        PROJECT,
        REGION,
        DEADLINE,
    )
    out = evaluate(tmp_path, inputs)
    assert out["enabled"] is True
    assert (out["schedule"], out["time_zone"]) == ("5 19 1 12 *", "Etc/UTC")
    program = yaml.safe_load(out["workflow_source"])
    argument = json.loads(out["argument"])
    # the labels the gcp serving step puts on the run's endpoints (`messages._labels`)
    run_labels = naming.tags(ENGINEER, "movie-recommender", "r1a2b3")
    assert argument == {
        "project": PROJECT,
        "region": REGION,
        "labels": run_labels,
        "scheduler_job": f"projects/{PROJECT}/locations/{REGION}/jobs/"
        "labctl-ana-movie-recommender-expiry-1a2b3c4d",
    }

    vertex = FakeVertex()
    other_run = run_labels | {"labctl-run": "other"}
    two = vertex.add(2, run_labels, {"m-a": 30, "m-b": 70})  # a traffic split over two models
    one = vertex.add(3, run_labels, {"m-c": 100})
    keep = vertex.add(5, other_run, {"m-x": 100})  # the same lab's other run: not touched
    foreign = vertex.add(9, {}, {})  # not labctl's
    deleted = Workflow(program, vertex).run(argument)

    assert deleted == [two, one]
    assert sorted(vertex.endpoints) == [keep, foreign]
    assert vertex.deleted_jobs == [argument["scheduler_job"]]
    undeploys = [(r.endpoint, r.deployed_model_id, dict(r.traffic_split))
                 for m, r in vertex.calls if m == "undeployModel"]  # fmt: skip
    assert undeploys == [(two, "m-a", {"m-b": 100}), (two, "m-b", {}), (one, "m-c", {})]
    methods = [m for m, _ in vertex.calls]
    assert methods[:4] == ["list"] * 4  # one endpoint a page, all read before any deletion
    assert methods[-1] == "scheduler.delete"


def test_a_scheduler_job_already_gone_is_success_and_other_errors_fail(tmp_path, gcp_config):
    out = evaluate(tmp_path, rendered(tmp_path, "r1a2b3", DEADLINE))
    program, argument = yaml.safe_load(out["workflow_source"]), json.loads(out["argument"])

    def scheduler(code):
        def handler(call, args):
            if "cloudscheduler" in call:
                raise WorkflowError({"code": code, "message": "x"})
            return FakeVertex()(call, args)

        return handler

    assert Workflow(program, scheduler(404)).run(argument) == []
    with pytest.raises(WorkflowError):
        Workflow(program, scheduler(403)).run(argument)


def test_the_scheduler_job_starts_the_workflow_with_that_argument(tmp_path, gcp_config):
    """expiry.tf: the job POSTs {"argument": <json>} to the workflow's executions, as the
    service account, at the module's schedule; the workflow runs as the same account."""
    body = _expiry.resource("gcp", "google_cloud_scheduler_job")
    target = body["http_target"][0]
    assert target["http_method"].strip('"') == "POST"
    assert target["uri"].strip('"').startswith("https://workflowexecutions.googleapis.com/v1/${")
    assert target["uri"].strip('"').endswith("/executions")
    assert "module.expiry.argument" in target["body"]
    assert "google_service_account.expiry" in target["oauth_token"][0]["service_account_email"]
    assert body["schedule"] == "${module.expiry.schedule}"
    workflow = _expiry.resource("gcp", "google_workflows_workflow")
    assert workflow["source_contents"] == "${module.expiry.workflow_source}"
    assert workflow["deletion_protection"] is False  # `down` can destroy it
    assert target["body"] == "${base64encode(jsonencode({argument = module.expiry.argument}))}"
    # the executions API takes the argument as a JSON string
    out = evaluate(tmp_path, rendered(tmp_path, "r1a2b3", DEADLINE))
    assert json.loads(out["argument"])["labels"]["labctl-run"] == "r1a2b3"


def test_the_service_account_may_do_what_the_workflow_calls_and_no_more(tmp_path, gcp_config):
    """The custom role: a permission per call the workflow makes (Vertex AI's IAM table), get
    to follow the long-running operations, and starting the workflow (the scheduler job)."""
    out = evaluate(tmp_path, rendered(tmp_path, "r1a2b3", DEADLINE))
    vertex = FakeVertex()
    vertex.add(2, naming.tags(ENGINEER, "movie-recommender", "r1a2b3"), {"m-a": 100})
    Workflow(yaml.safe_load(out["workflow_source"]), vertex).run(json.loads(out["argument"]))
    needed = {PERMISSIONS[method] for method, _ in vertex.calls}
    needed |= {"aiplatform.endpoints.get", "workflows.executions.create"}
    role = _expiry.resource("gcp", "google_project_iam_custom_role")
    assert [p.strip('"') for p in role["permissions"]] == sorted(needed)


def test_no_deadline_renders_no_workflow(tmp_path, gcp_config):
    inputs = rendered(tmp_path, "r1a2b3", None)
    assert "autostop_at" not in inputs
    out = evaluate(tmp_path, inputs)
    assert out["enabled"] is False
    assert "schedule" not in out  # null
