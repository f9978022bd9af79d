"""`labctl sweep`: tagged resources the ledger does not show as open are listed and deleted.

aws runs against moto (ThreadedMotoServer, the fixtures of tests/test_aws.py): the resources a lab
leaves are created with the tags labctl puts on them (labctl.naming.tags), the ledger is deleted,
and the real CLI lists and deletes them; untagged resources survive. gcp and databricks are tested
at the request level, as tests/test_gcp.py and tests/test_databricks.py do.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from labctl import naming, paths
from labctl import sweep as sweep_mod
from labctl.ledger import Ledger
from labctl.prices import PriceBook
from labctl.progress import Reporter
from tests.test_aws import ENGINEER, ROLE_TRUST, aws_env, moto_server  # noqa: F401

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def sm():
    return boto3.client("sagemaker", region_name="us-east-1")


@pytest.fixture
def role(aws_env):  # noqa: F811
    iam = boto3.client("iam", region_name="us-east-1")
    return iam.create_role(RoleName="labctl-sm", AssumeRolePolicyDocument=json.dumps(ROLE_TRUST))[
        "Role"
    ]["Arn"]


def make_endpoint(role: str, name: str, tags: dict[str, str] | None, *, count: int = 1) -> None:
    """Model, endpoint config and endpoint named `name`, as the aws backend deploys them."""
    client = sm()
    t = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
    client.create_model(
        ModelName=name, ExecutionRoleArn=role, PrimaryContainer={"Image": IMAGE}, Tags=t
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": name,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": count,
    }
    client.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], Tags=t)
    client.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=t)


def names(items, kind="endpoint"):
    return sorted(i["name"] for i in items if i["kind"] == kind)


def endpoints():
    return sorted(e["EndpointName"] for e in sm().list_endpoints()["Endpoints"])


# --- aws, against moto -------------------------------------------------------------------------


def test_sweep_after_the_ledger_is_deleted_removes_only_tagged_resources(cli, role):
    lab_tags = naming.tags(ENGINEER, "churn-pipeline", "r1a2b3c4")
    make_endpoint(role, "churn-pipeline-r1a2b3c4", lab_tags, count=2)
    make_endpoint(role, "someone-elses-endpoint", None)  # untagged: never touched
    other = naming.tags("bob@example.com", "fraud-detection", "r5e6f7a8")
    make_endpoint(role, "fraud-detection-r5e6f7a8", other)
    Ledger().engine.dispose()  # a ledger existed, and was lost with its WAL files
    for file in paths.home().glob("ledger.db*"):
        file.unlink()

    listed = cli("sweep", "--target", "aws", "--engineer", ENGINEER, "--json")
    assert listed.code == 0, listed.stderr
    data = listed.json()
    assert data["status"] == "dry-run"  # no terminal: list only
    assert names(data["items"]) == ["churn-pipeline-r1a2b3c4"]
    assert names(data["items"], "endpoint-config") == ["churn-pipeline-r1a2b3c4"]
    assert names(data["items"], "model") == ["churn-pipeline-r1a2b3c4"]
    endpoint = next(i for i in data["items"] if i["kind"] == "endpoint")
    assert endpoint["engineer"] == "ana-example-com" and endpoint["lab"] == "churn-pipeline"
    assert endpoint["instances"] == [{"instance_type": "ml.m5.large", "count": 2}]
    assert endpoint["usd_per_hour"] == pytest.approx(2 * 0.115)  # 2 x ml.m5.large hosting
    assert [i["kind"] for i in data["items"]] == ["endpoint", "endpoint-config", "model"]
    assert len(endpoints()) == 3  # nothing deleted yet

    everyone = cli("sweep", "--target", "aws", "--all-engineers", "--json").json()
    assert names(everyone["items"]) == ["churn-pipeline-r1a2b3c4", "fraud-detection-r5e6f7a8"]

    swept = cli("sweep", "--target", "aws", "--all-engineers", "--yes", "--json")
    assert swept.code == 0, swept.stderr
    assert {i["outcome"] for i in swept.json()["items"]} == {"deleted"}
    assert endpoints() == ["someone-elses-endpoint"]
    assert [m["ModelName"] for m in sm().list_models()["Models"]] == ["someone-elses-endpoint"]
    configs = sm().list_endpoint_configs()["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in configs] == ["someone-elses-endpoint"]

    again = cli("sweep", "--target", "aws", "--all-engineers", "--json")
    assert again.json() == {
        "status": "nothing-to-do",
        "engineer": None,
        "usd_per_hour": 0,
        "items": [],
        "errors": {},
    }


def test_tagged_endpoint_made_outside_labctl_is_listed_and_deleted(cli, role):
    make_endpoint(role, "by-hand", {"labctl-engineer": "tester-example-com"})
    listed = cli("sweep", "--target", "aws")  # the engineer: LABCTL_ENGINEER
    assert listed.code == 0, listed.stderr
    assert "by-hand" in listed.stdout and "--yes" in listed.stderr
    swept = cli("sweep", "--target", "aws", "--yes")
    assert swept.code == 0, swept.stderr
    assert "3 resource(s) deleted" in swept.stdout
    assert endpoints() == []


def test_what_the_ledger_shows_open_is_not_listed(cli, role):
    ledger = Ledger()
    run = ledger.start_run(
        engineer=ENGINEER,
        lab="churn-pipeline",
        target="aws",
        workspace="/tmp/ws",
        region="us-east-1",
    )
    make_endpoint(role, "in-ledger", naming.tags(ENGINEER, "churn-pipeline", run.id))
    make_endpoint(role, "closed-in-ledger", naming.tags(ENGINEER, "churn-pipeline", run.id))
    arn = sm().describe_endpoint(EndpointName="in-ledger")["EndpointArn"]
    ledger.add_resource(run, kind="endpoint", name="in-ledger", provider_id=arn)
    ledger.add_resource(run, kind="endpoint-config", name="in-ledger")
    ledger.add_resource(run, kind="model", name="in-ledger")
    closed = ledger.add_resource(run, kind="endpoint", name="closed-in-ledger")
    ledger.close_resource(closed.id)

    data = cli("sweep", "--target", "aws", "--engineer", ENGINEER, "--json").json()
    assert {i["name"] for i in data["items"]} == {"closed-in-ledger"}


def test_declined_sweep_deletes_nothing_and_exits_1(role, home, monkeypatch):
    from typer.testing import CliRunner

    from labctl.cli import app

    make_endpoint(role, "by-hand", {"labctl-engineer": "tester-example-com"})
    monkeypatch.setattr("labctl.commands.sweep._interactive", lambda: True)
    result = CliRunner().invoke(app, ["sweep", "--target", "aws"], input="\n")
    assert result.exit_code == 1, result.output
    assert endpoints() == ["by-hand"]


def test_usage_errors(cli):
    bad = cli("sweep", "--target", "local")
    assert bad.code == 2 and "expected one of aws, gcp, databricks" in bad.stderr
    both = cli("sweep", "--engineer", "a@b.c", "--all-engineers")
    assert both.code == 2


def test_a_running_training_job_is_stopped_through_the_aws_teardown(home):
    """moto completes jobs at once: a Stubber plays one still in progress."""
    from labctl.backends.aws import AwsBackend
    from labctl.backends.aws import sweep as aws_sweep

    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    backend = AwsBackend(clients={"sagemaker": client}, sleep=lambda s: None, poll_seconds=0)
    stray = sweep_mod.Stray("aws", "training-job", "train-r1", "arn:x", "us-east-1")
    name = {"TrainingJobName": "train-r1"}
    with Stubber(client) as stub:
        described = {
            "TrainingJobName": "train-r1",
            "TrainingJobArn": "arn:x",
            "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "ModelArtifacts": {"S3ModelArtifacts": ""},
            "StoppingCondition": {},
            "CreationTime": "2026-11-01T10:00:00Z",
            "SecondaryStatus": "Training",
        }
        stub.add_response(
            "describe_training_job", {**described, "TrainingJobStatus": "InProgress"}, name
        )
        stub.add_response("stop_training_job", {}, name)
        stub.add_response(
            "describe_training_job", {**described, "TrainingJobStatus": "Stopped"}, name
        )
        sweep_mod.delete([stray], reporter=Reporter(), backends={"aws": backend})
        stub.assert_no_pending_responses()
    assert stray.outcome == "deleted"
    assert aws_sweep.LISTINGS["training-job"][4] == {"StatusEquals": "InProgress"}


# --- gcp, at the request level (GAPIC methods patched on their classes) -------------------------

PROJECT = "labctl-test-project"
PARENT = f"projects/{PROJECT}/locations/us-central1"


@pytest.fixture
def vertex_lists(monkeypatch, home):
    """Vertex AI listings answered from `items` (what the label filter lets through), and every
    request recorded; get/undeploy/delete/cancel answered as for resources that exist."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1 as aip

    from labctl import config

    monkeypatch.setattr(
        google.auth, "default", lambda scopes=None, **_: (AnonymousCredentials(), PROJECT)
    )
    config.settings.cache_clear()
    spec = aip.MachineSpec(machine_type="n1-standard-4")
    state = {
        "requests": [],
        "list_endpoints": [
            aip.Endpoint(
                name=f"{PARENT}/endpoints/1",
                display_name="movie-recommender-r1",
                labels={"labctl-engineer": "ana-example-com"},
                deployed_models=[
                    aip.DeployedModel(
                        id="d1",
                        dedicated_resources=aip.DedicatedResources(
                            machine_spec=spec, min_replica_count=2
                        ),
                    )
                ],
            )
        ],
        "list_models": [
            aip.Model(
                name=f"{PARENT}/models/7",
                display_name="recommender",
                labels={"labctl-engineer": "ana-example-com"},
            )
        ],
        "list_custom_jobs": [
            aip.CustomJob(
                name=f"{PARENT}/customJobs/5",
                display_name="train-r1",
                state="JOB_STATE_RUNNING",
                labels={"labctl-engineer": "ana-example-com"},
                job_spec=aip.CustomJobSpec(
                    worker_pool_specs=[aip.WorkerPoolSpec(machine_spec=spec, replica_count=1)]
                ),
            ),
            aip.CustomJob(
                name=f"{PARENT}/customJobs/6",
                display_name="done",
                state="JOB_STATE_SUCCEEDED",
                labels={"labctl-engineer": "ana-example-com"},
            ),
        ],
    }

    def answer(method):
        def call(self, *args, **kw):
            state["requests"].append((method, kw.get("request") or kw.get("name")))
            if method.startswith("list_"):
                return iter(state.get(method, []))
            if method == "get_endpoint":
                return aip.Endpoint(name=kw["name"], deployed_models=[aip.DeployedModel(id="d1")])
            if method == "get_custom_job":
                return aip.CustomJob(name=kw["name"], state="JOB_STATE_RUNNING")
            return Done()

        return call

    class Done:
        def result(self, timeout=None):
            return None

    services = {
        aip.EndpointServiceClient: (
            "list_endpoints",
            "get_endpoint",
            "undeploy_model",
            "delete_endpoint",
        ),
        aip.ModelServiceClient: ("list_models", "delete_model"),
        aip.JobServiceClient: (
            "list_custom_jobs",
            "list_hyperparameter_tuning_jobs",
            "list_batch_prediction_jobs",
            "get_custom_job",
            "cancel_custom_job",
        ),
        aip.PipelineServiceClient: ("list_training_pipelines",),
    }
    for cls, methods in services.items():
        for method in methods:
            monkeypatch.setattr(cls, method, answer(method))
    return state


def test_gcp_sweep_lists_by_label_prices_and_deletes(vertex_lists):
    from labctl.backends.gcp import GcpBackend

    backend = GcpBackend(project=PROJECT, region="us-central1")
    found = sweep_mod.find(
        targets=["gcp"], engineer=ENGINEER, ledger=Ledger(), backends={"gcp": backend}
    ).strays
    lists = [(m, r) for m, r in vertex_lists["requests"] if m.startswith("list_")]
    assert len(lists) == 6
    for _, request in lists:
        assert request.parent == PARENT
        assert request.filter == 'labels.labctl-engineer="ana-example-com"'
    assert [(s.kind, s.name) for s in found] == [
        ("endpoint", "movie-recommender-r1"),
        ("model", "recommender"),
        ("training-job", "train-r1"),  # the succeeded job is not listed
    ]
    endpoint = found[0]
    assert endpoint.instances == [("n1-standard-4", 2)]
    hourly = PriceBook.load().lookup(
        cloud="gcp", usage="prediction", instance_type="n1-standard-4", region="us-central1"
    )
    assert hourly and endpoint.usd_per_hour == pytest.approx(2 * hourly.usd_per_hour)

    vertex_lists["requests"].clear()
    sweep_mod.delete(found, reporter=Reporter(), backends={"gcp": backend})
    calls = [(m, getattr(r, "deployed_model_id", r)) for m, r in vertex_lists["requests"]]
    assert calls == [
        ("get_endpoint", f"{PARENT}/endpoints/1"),
        ("undeploy_model", "d1"),
        ("delete_endpoint", f"{PARENT}/endpoints/1"),
        ("delete_model", f"{PARENT}/models/7"),
        ("get_custom_job", f"{PARENT}/customJobs/5"),
        ("cancel_custom_job", f"{PARENT}/customJobs/5"),
    ]
    assert {s.outcome for s in found} == {"deleted"}


def test_gcp_label_filter_for_everyone():
    from labctl.backends.gcp.sweep import label_filter

    assert label_filter(None) == "labels.labctl-engineer:*"


# --- databricks, at the REST level (requests-mock, as tests/test_databricks.py) -----------------

HOST = "http://localhost"


def test_databricks_sweep_finds_by_tag_or_prefix_and_deletes(home):
    import requests_mock as rm
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    from labctl.backends.databricks import DatabricksBackend

    ana = {"labctl-engineer": "ana-example-com", "labctl-lab": "feature-store-pipeline"}
    with rm.Mocker() as m:
        m.get(f"{HOST}/.well-known/databricks-config", status_code=404)
        client = WorkspaceClient(config=Config(host=HOST, token="dapi-secret-token"))
        m.get(
            f"{HOST}/api/2.0/serving-endpoints",
            json={
                "endpoints": [
                    {
                        "name": "labctl-ana-fsp-deploy",
                        "tags": [{"key": k, "value": v} for k, v in ana.items()],
                    },
                    {"name": "team-endpoint"},  # neither tag nor prefix: never touched
                ]
            },
        )
        m.get(
            f"{HOST}/api/2.0/serving-endpoints/labctl-ana-fsp-deploy",
            json={
                "name": "labctl-ana-fsp-deploy",
                "state": {"ready": "READY"},
                "config": {
                    "served_entities": [
                        {
                            "entity_name": "m",
                            "workload_size": "Small",
                            "scale_to_zero_enabled": True,
                        }
                    ]
                },
            },
        )
        m.get(
            f"{HOST}/api/2.2/jobs/runs/list",
            json={
                "runs": [
                    {
                        "run_id": 42,
                        "run_name": "train-r1",
                        "state": {"life_cycle_state": "RUNNING"},
                        "tasks": [
                            {
                                "task_key": "main",
                                "new_cluster": {
                                    "node_type_id": "i3.xlarge",
                                    "num_workers": 2,
                                    "custom_tags": ana,
                                },
                            }
                        ],
                    },
                    {
                        "run_id": 43,
                        "run_name": "someone-else",
                        "state": {"life_cycle_state": "RUNNING"},
                        "tasks": [
                            {"task_key": "main", "new_cluster": {"node_type_id": "i3.xlarge"}}
                        ],
                    },
                ]
            },
        )
        m.get(
            f"{HOST}/api/2.0/mlflow/registered-models/search",
            json={
                "registered_models": [
                    {"name": "labctl-ana-fsp-model"},  # prefix only: no engineer
                ]
            },
        )
        m.get(
            f"{HOST}/api/2.2/jobs/runs/get",
            json={"run_id": 42, "state": {"life_cycle_state": "RUNNING"}},
        )
        m.post(f"{HOST}/api/2.2/jobs/runs/cancel", json={})
        m.delete(f"{HOST}/api/2.0/serving-endpoints/labctl-ana-fsp-deploy", json={})
        m.delete(f"{HOST}/api/2.0/mlflow/registered-models/delete", json={})

        backend = DatabricksBackend(client=client, sleep=lambda s: None)
        mine = sweep_mod.find(
            targets=["databricks"],
            engineer=ENGINEER,
            ledger=Ledger(),
            backends={"databricks": backend},
        ).strays
        assert [(s.kind, s.name) for s in mine] == [
            ("endpoint", "labctl-ana-fsp-deploy"),
            ("training-job", "train-r1"),
        ]
        assert mine[0].instances == [("small", 1)] and mine[0].usd_per_hour
        assert mine[1].instances == [("i3.xlarge", 3)] and mine[1].usd_per_hour
        search = next(r for r in m.request_history if r.path.endswith("/search"))
        assert search.qs["filter"] == ["name like 'labctl-%'"]  # requests-mock lowercases

        everyone = sweep_mod.find(
            targets=["databricks"], engineer=None, ledger=Ledger(), backends={"databricks": backend}
        ).strays
        assert [s.name for s in everyone] == [
            "labctl-ana-fsp-deploy",
            "labctl-ana-fsp-model",
            "train-r1",
        ]

        sweep_mod.delete(everyone, reporter=Reporter(), backends={"databricks": backend})
        done = [(r.method, r.path) for r in m.request_history if r.method in ("POST", "DELETE")]
        assert done == [
            ("DELETE", "/api/2.0/serving-endpoints/labctl-ana-fsp-deploy"),
            ("DELETE", "/api/2.0/mlflow/registered-models/delete"),
            ("POST", "/api/2.2/jobs/runs/cancel"),
        ]
        cancel = next(r for r in m.request_history if r.path.endswith("/cancel"))
        assert cancel.json() == {"run_id": 42}


def test_tags_from_the_tagging_api_pages_spare_list_tags(home):
    """Every Tagging API page is read, and a resource it tagged needs no `list_tags` call
    (botocore's Stubber fails on any call not queued)."""
    from labctl.backends.aws import AwsBackend
    from labctl.backends.aws.sweep import LISTINGS, discover

    def client(service):
        return boto3.client(
            service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )

    tagging, sage = client("resourcegroupstaggingapi"), client("sagemaker")
    scheduler = client("scheduler")
    backend = AwsBackend(
        clients={"resourcegroupstaggingapi": tagging, "sagemaker": sage, "scheduler": scheduler}
    )
    arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/lab-r1"
    tags = naming.tags(ENGINEER, "churn-pipeline", "r1")
    query = {
        "TagFilters": [{"Key": "labctl-engineer", "Values": ["ana-example-com"]}],
        "ResourceTypeFilters": ["sagemaker"],
        "ResourcesPerPage": 100,
    }
    with Stubber(tagging) as tag_stub, Stubber(sage) as sm_stub, Stubber(scheduler) as sched:
        sched.add_response("list_schedule_groups", {"ScheduleGroups": []}, {})  # none of labctl
        tag_stub.add_response(
            "get_resources",
            {"ResourceTagMappingList": [], "PaginationToken": "p2"},
            {**query, "PaginationToken": ""},
        )
        tag_stub.add_response(
            "get_resources",
            {
                "ResourceTagMappingList": [
                    {"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                ]
            },
            {**query, "PaginationToken": "p2"},
        )
        for kind, (op, key, _, _, params) in LISTINGS.items():
            page = {key: []}
            if kind == "endpoint":
                page[key] = [
                    {
                        "EndpointName": "lab-r1",
                        "EndpointArn": arn,
                        "CreationTime": "2026-11-01T10:00:00Z",
                        "LastModifiedTime": "2026-11-01T10:00:00Z",
                        "EndpointStatus": "InService",
                    }
                ]
            sm_stub.add_response(op, page, {"MaxResults": 100, **params})
            if kind == "endpoint":
                sm_stub.add_response(
                    "describe_endpoint",
                    {
                        "EndpointName": "lab-r1",
                        "EndpointArn": arn,
                        "EndpointConfigName": "c",
                        "EndpointStatus": "InService",
                        "CreationTime": "2026-11-01T10:00:00Z",
                        "LastModifiedTime": "2026-11-01T10:00:00Z",
                        "ProductionVariants": [{"VariantName": "v", "CurrentInstanceCount": 3}],
                    },
                    {"EndpointName": "lab-r1"},
                )
                sm_stub.add_response(
                    "describe_endpoint_config",
                    {
                        "EndpointConfigName": "c",
                        "EndpointConfigArn": arn.replace("endpoint/", "endpoint-config/"),
                        "CreationTime": "2026-11-01T10:00:00Z",
                        "ProductionVariants": [
                            {
                                "VariantName": "v",
                                "ModelName": "m",
                                "InstanceType": "ml.m5.large",
                                "InitialInstanceCount": 1,
                            }
                        ],
                    },
                    {"EndpointConfigName": "c"},
                )
        found = discover(backend, "ana-example-com")
        tag_stub.assert_no_pending_responses()
        sm_stub.assert_no_pending_responses()
        sched.assert_no_pending_responses()
    assert [(s.kind, s.name, s.tags, s.instances) for s in found] == [
        ("endpoint", "lab-r1", tags, [("ml.m5.large", 3)])
    ]


def test_one_cloud_failing_does_not_stop_the_others(home, monkeypatch):
    from types import SimpleNamespace

    from labctl.errors import BackendError, MissingExtra

    stray = sweep_mod.Stray("aws", "model", "m", "arn:m", "us-east-1", {"labctl-engineer": "x"})

    def discover_gcp(backend, tag):
        raise BackendError("gcp: no Application Default Credentials")

    modules = {
        "aws": SimpleNamespace(discover=lambda backend, tag: [stray]),
        "gcp": SimpleNamespace(discover=discover_gcp),
    }
    monkeypatch.setattr(sweep_mod, "_module", modules.__getitem__)

    def backend(target):
        if target == "databricks":
            raise MissingExtra("databricks", "databricks-sdk")
        return object()

    monkeypatch.setattr(sweep_mod, "get_backend", backend)
    result = sweep_mod.find(engineer=None, ledger=Ledger())
    assert result.strays == [stray]
    assert result.errors == {"gcp": "gcp: no Application Default Credentials"}
    assert list(result.skipped) == ["databricks"]
    with pytest.raises(BackendError):  # a target named alone raises
        sweep_mod.find(targets=["gcp"], engineer=None, ledger=Ledger())


def test_a_tagged_notebook_instance_is_priced_stopped_and_deleted(role, home):
    from labctl.backends.aws import AwsBackend

    tags = naming.tags(ENGINEER, "churn-pipeline", "r1")
    sm().create_notebook_instance(
        NotebookInstanceName="study-notebook",
        InstanceType="ml.t3.medium",
        RoleArn=role,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    sm().create_notebook_instance(
        NotebookInstanceName="untagged-notebook", InstanceType="ml.t3.medium", RoleArn=role
    )
    backend = AwsBackend(sleep=lambda s: None, poll_seconds=0)
    found = sweep_mod.find(
        targets=["aws"], engineer=ENGINEER, ledger=Ledger(), backends={"aws": backend}
    ).strays
    assert [(s.kind, s.name, s.instances) for s in found] == [
        ("notebook-instance", "study-notebook", [("ml.t3.medium", 1)])
    ]
    assert found[0].usd_per_hour == 0.05  # prices.csv: aws notebook us-east-1 ml.t3.medium
    sweep_mod.delete(found, reporter=Reporter(), backends={"aws": backend})
    left = sm().list_notebook_instances()["NotebookInstances"]
    assert [n["NotebookInstanceName"] for n in left] == ["untagged-notebook"]


def test_a_lost_quality_check_schedule_and_its_running_job_are_swept(cli, role):
    """A monitor step's schedule (quality.py) starts a processing job every hour: with the ledger
    lost, the sweep finds it in the lab stack's tagged group, and the job it started."""
    lab_tags = naming.tags(ENGINEER, "churn-pipeline", "r1a2b3c4")
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    for group, tags in (("labctl-ana-churn-quality-1a2b3c4d", lab_tags), ("other-quality-x", None)):
        scheduler.create_schedule_group(
            Name=group, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()]
        )
        scheduler.create_schedule(
            Name="model-monitor-r1a2b3c4-q", GroupName=group, ScheduleExpression="rate(1 hour)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": "arn:aws:scheduler:::aws-sdk:sagemaker:createProcessingJob",
                    "RoleArn": role, "Input": "{}"},
        )  # fmt: skip
    sm().create_processing_job(
        ProcessingJobName="model-monitor-r1a2b3c4-q-d32c5kddcf5bb8c3", RoleArn=role,
        AppSpecification={"ImageUri": IMAGE},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 30}},
        Tags=[{"Key": k, "Value": v} for k, v in lab_tags.items()],
    )  # fmt: skip
    listed = cli("sweep", "--target", "aws", "--engineer", ENGINEER, "--json")
    assert listed.code == 0, listed.stderr
    items = listed.json()["items"]
    (schedule,) = [i for i in items if i["kind"] == "quality-schedule"]  # not the untagged group's
    assert schedule["name"] == "model-monitor-r1a2b3c4-q" and schedule["lab"] == "churn-pipeline"
    swept = cli("sweep", "--target", "aws", "--engineer", ENGINEER, "--yes", "--json")
    assert swept.code == 0, swept.stderr
    assert not scheduler.list_schedules(GroupName="labctl-ana-churn-quality-1a2b3c4d")["Schedules"]
    assert scheduler.list_schedules(GroupName="other-quality-x")["Schedules"]  # untouched
