"""Every root module labctl renders, checked offline against real provider schema subsets.

Every lab of labs.yaml is rendered (`orchestrator.render`, the path of `labctl render`) for every
target, in every backend configuration below, with the team budget on and off. Each rendered
`main.tf.json` (provider, backend, module call) and each module's `.tf` files (resources, data
sources, references) are checked with `tests/_schema.py` against `../shared/provider-schemas/`
(hashicorp/aws 6.19.0 with the s3 backend of Terraform 1.11, hashicorp/google 7.9.0,
databricks/databricks 1.97.0). The cloud SDKs are not used: rendering takes the render-only
stand-in, which writes the same module as the real backend (`backends/modules.py`).
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import _schema
import pytest

from labctl import catalog, config, orchestrator, terraform
from labctl.backends import base
from labctl.errors import MissingExtra

pytest.importorskip("hcl2", reason="the schema checks need python-hcl2 (the `test` extra)")

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "labs.yaml"
SCHEMAS = _schema.schema_dir()
if SCHEMAS is None and os.environ.get("CI"):  # CI has ../shared: never skip the check there
    raise RuntimeError("no ../shared/provider-schemas: CI must run the provider schema checks")
pytestmark = pytest.mark.skipif(
    SCHEMAS is None,
    reason="no provider schemas: set LABCTL_PROVIDER_SCHEMAS to ../shared/provider-schemas",
)

# target -> configuration name -> labctl config file
CONFIGS: dict[str, dict[str, str]] = {
    "local": {"local-state": ""},
    "aws": {
        "local-state": '[aws]\nregion = "eu-west-1"\n',
        "s3-lockfile": '[aws]\nregion = "eu-west-1"\nstate_bucket = "team-state"\n',
        "s3-dynamodb": '[aws]\nregion = "eu-west-1"\nstate_bucket = "team-state"\n'
        'state_lock_table = "team-locks"\n',
    },
    "gcp": {
        "no-billing": '[gcp]\nproject = "lab-project"\n',
        "billing": '[gcp]\nproject = "lab-project"\nbilling_account = "01AB23-45CD67-89EF01"\n',
    },
    "databricks": {
        f"cloud-{cloud}": f'[databricks]\ncloud = "{cloud}"\n' for cloud in ("aws", "azure", "gcp")
    },
}
MATRIX = [(target, name) for target, configs in CONFIGS.items() for name in configs]
TEAM = "team:\n  monthly_budget_usd: 250\n  alerts:\n    emails: [lead@example.com]\n"

# Types of the msk, elasticache, managed-flink, efs, cloudwatch-xray, secrets-manager, codepipeline
# and iot-greengrass components that ../shared/provider-schemas lacks. Each was checked, with this
# same test, against its file in the hashicorp/aws 6.19.0 dump the shared aws.json comes from
# (vadirajks/terraform-provider-schema-exporter@5d78719, output/aws_schema_json/.../
# resource_schemas/<type>.json, data_source_schemas/ for the AMI parameter) added to a copy of
# aws.json: no problem found.
COMPONENT_TYPES_FROM_THE_DUMP = {
    *(
        f"resource aws_{t}"
        for t in (
            "cloudwatch_log_stream",
            "codebuild_project",
            "codepipeline",
            "efs_file_system",
            "efs_mount_target",
            "elasticache_replication_group",
            "elasticache_subnet_group",
            "iam_instance_profile",
            "instance",
            "iot_role_alias",
            "kinesisanalyticsv2_application",
            "msk_serverless_cluster",
            "secretsmanager_secret",
            "secretsmanager_secret_rotation",
            "xray_group",
            "xray_sampling_rule",
        )
    ),
    "data aws_ssm_parameter",
}
# What no schema file covers, listed on purpose: a type added to a module without a schema fails.
UNCHECKED: dict[str, set[str]] = {
    "local": {"provider null", "resource null_resource"},
    # the Glue script is uploaded with aws_s3_object; the Lambda code zipped by hashicorp/archive
    "aws": {"resource aws_s3_object", "data archive_file"}
    | COMPONENT_TYPES_FROM_THE_DUMP
    # the waf component's: the dump has no aws_wafv2_web_acl file (nor its association), so
    # these two are not checked against any schema
    | {"resource aws_wafv2_web_acl", "resource aws_wafv2_web_acl_association"},
    # the expiry workflow's least-privilege role (issue 13): google.json has no custom role type
    "gcp": {"resource google_project_iam_custom_role"},
    "databricks": set(),
}
# Reported by the check and accepted, each for a reason. dynamodb_table is deprecated since
# Terraform 1.11; labctl writes it only for a team that configured a DynamoDB lock table (beside
# use_lockfile, the documented migration path), so engines older than 1.10 still lock.
ACCEPTED: dict[tuple[str, str], set[str]] = {
    ("aws", "s3-dynamodb"): {"terraform.backend.s3: 'dynamodb_table' is deprecated"},
}
PROVIDERS = {
    "aws": {"aws": {"source": "hashicorp/aws", "version": ">= 6.19, < 7"}},
    "gcp": {"google": {"source": "hashicorp/google", "version": ">= 7.9, < 8"}},
    "databricks": {
        "databricks": {"source": "databricks/databricks", "version": ">= 1.97, < 2"},
    },
}


@pytest.fixture(scope="module")
def schemas() -> _schema.Schemas:
    assert SCHEMAS is not None
    return _schema.Schemas(SCHEMAS)


@pytest.fixture
def render_all(home, tmp_path, monkeypatch):
    """Render every lab for `target` under one configuration; returns the written folders."""
    load = cache(catalog.load)
    monkeypatch.setattr(catalog, "load", load)
    monkeypatch.setenv("LABCTL_CATALOG", str(CATALOG))

    def render(target: str, settings: str, *, team: bool) -> dict[str, Path]:
        cfg = tmp_path / f"config-{target}-{team}.toml"
        cfg.write_text(settings)
        monkeypatch.setenv("LABCTL_CONFIG", str(cfg))
        if team:
            (tmp_path / "team.yaml").write_text(TEAM)
            monkeypatch.setenv("LABCTL_TEAM", str(tmp_path / "team.yaml"))
        else:
            monkeypatch.delenv("LABCTL_TEAM", raising=False)
        config.settings.cache_clear()
        out: dict[str, Path] = {}
        for lab in load(str(CATALOG)).labs:
            directory = tmp_path / "render" / target / str(team) / lab
            orchestrator.render(lab, target=target, engineer="ana@example.com",
                                out=directory, catalog=str(CATALOG))  # fmt: skip
            out[lab] = directory
        return out

    real = base.get_backend
    monkeypatch.setattr(
        base,
        "get_backend",
        lambda target: real(target) if target == "local" else _missing(target),
    )
    return render


def called_modules(directory: Path, root: dict) -> list[Path]:
    """The module folders a rendered root calls, and the folders those call, in order."""
    found: list[Path] = []
    todo = [(directory / call["source"]).resolve() for call in root.get("module", {}).values()]
    while todo:
        folder = todo.pop(0)
        if folder in found:
            continue
        found.append(folder)
        for path in sorted(folder.glob("*.tf")):
            for entry in _schema.parse_hcl(path).get("module", []):
                for label, call in entry.items():
                    if not label.startswith("__"):
                        todo.append((folder / _schema.unquote(call["source"])).resolve())
    return found


def _missing(target: str) -> base.Backend:
    raise MissingExtra(target, "its SDK (this test renders without it)")


@pytest.mark.parametrize(("target", "configuration"), MATRIX, ids=[f"{t}-{c}" for t, c in MATRIX])
def test_every_lab_renders_schema_valid(target, configuration, render_all, schemas) -> None:
    report = _schema.Report()
    rendered = 0
    for team in (False, True):
        for lab, directory in render_all(target, CONFIGS[target][configuration], team=team).items():
            root = json.loads((directory / terraform.ROOT_FILE).read_text())
            module_dir = directory / "modules" / target
            one = _schema.check_root(schemas, root, module_dir, directory)
            for called in called_modules(directory, root):
                checked = _schema.check_module(schemas, called)
                prefix = "" if called == module_dir.resolve() else f"{called.name}/"
                one.problems += [_schema.Problem(prefix + p.where, p.message)
                                 for p in checked.problems]  # fmt: skip
                one.unchecked |= checked.unchecked
            report.problems += [
                _schema.Problem(f"{lab} (team {'on' if team else 'off'}): {p.where}", p.message)
                for p in one.problems
            ]
            report.unchecked |= one.unchecked
            rendered += 1
    labs = catalog.load(str(CATALOG)).labs
    assert rendered == 2 * len(labs) and len(labs) >= 14
    print(f"{target}/{configuration}: not covered by the schema files: {sorted(report.unchecked)}")
    assert report.unchecked == UNCHECKED[target]
    found = {f"{p.where.split(': ', 1)[1]}: {p.message}" for p in report.problems}
    assert found == ACCEPTED.get((target, configuration), set()), "\n".join(
        sorted(map(str, report.problems))
    )


BUDGET_MATRIX = [(t, c) for t, c in MATRIX if t == "aws" or (t, c) == ("gcp", "billing")]


@pytest.mark.parametrize(
    ("target", "configuration"), BUDGET_MATRIX, ids=[f"{t}-{c}" for t, c in BUDGET_MATRIX]
)
def test_budget_stacks_render_schema_valid(
    target, configuration, schemas, home, tmp_path, monkeypatch
) -> None:
    """The per-engineer budget stack (labctl.budgets), with and without lab roles to deny."""
    from labctl import budgets

    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIGS[target][configuration])
    (tmp_path / "team.yaml").write_text(TEAM)
    monkeypatch.setenv("LABCTL_CONFIG", str(cfg))
    monkeypatch.setenv("LABCTL_TEAM", str(tmp_path / "team.yaml"))
    monkeypatch.setattr(base, "get_backend", _missing)
    config.settings.cache_clear()
    backend = base.backend_for_render(target)
    want = budgets.spec("ana@example.com", None)
    report = _schema.Report()
    for roles in ([], ["labctl-ana-churn-pipeline-sm-1a2b3c4d"]):
        module = budgets.root_module(backend, want, roles=roles)
        assert module is not None
        directory = tmp_path / f"budget-{len(roles)}"
        module.write(directory)
        root = json.loads((directory / terraform.ROOT_FILE).read_text())
        module_dir = directory / "modules" / f"{target}-budget"
        one = _schema.check_root(schemas, root, module_dir, directory)
        one.problems += _schema.check_module(schemas, module_dir).problems
        report.problems += one.problems
        report.unchecked |= one.unchecked | _schema.check_module(schemas, module_dir).unchecked
    assert report.unchecked == set()
    found = {f"{p.where}: {p.message}" for p in report.problems}
    assert found == ACCEPTED.get((target, configuration), set()), "\n".join(sorted(found))


COMPONENTS = REPO / "terraform" / "modules" / "aws-components"
COMPONENT_MODULES = sorted(p.parent.name for p in COMPONENTS.glob("*/main.tf"))


@pytest.mark.parametrize("folder", COMPONENT_MODULES)
def test_every_aws_component_module_is_schema_valid(folder, schemas) -> None:
    """Each component module on its own (a lab may not call it yet), its nested calls too."""
    directory = COMPONENTS / folder
    report = _schema.check_module(schemas, directory)
    assert [str(p) for p in report.problems] == []
    assert report.unchecked <= UNCHECKED["aws"]
    assert _schema.module_constraints(directory)["aws"] == PROVIDERS["aws"]["aws"]


@pytest.mark.parametrize("target", [*PROVIDERS, "aws-budget", "gcp-budget"])
def test_module_pins_the_checked_provider_versions(target) -> None:
    """The module itself asks for no older provider than the schema files describe."""
    assert _schema.module_constraints(REPO / "terraform" / "modules" / target) == {
        name: spec for name, spec in PROVIDERS[target.removesuffix("-budget")].items()
    }


@pytest.mark.parametrize("target", list(PROVIDERS))
def test_root_declares_the_checked_provider_versions(target) -> None:
    assert terraform.PROVIDERS[target] == PROVIDERS[target]


# --- the check itself can fail ------------------------------------------------------------------

BAD_MODULE = """
data "aws_region" "current" {}

resource "aws_s3_bucket" "lab" {
  bucket     = "x"
  no_such    = true
  arn        = "read-only"
  depends_on = [data.aws_region.current]
  lifecycle {
    prevent_destroy = false
  }
  versioning {
    enabled = true
  }
}

resource "aws_s3_bucket_versioning" "lab" {
  bucket = aws_s3_bucket.lab.id
  versioning_configuration {
    status = "Enabled"
  }
  versioning_configuration {
    status = "Suspended"
  }
}

resource "aws_iam_role" "lab" {
  provider             = aws.other
  for_each             = toset(["a"])
  name                 = "r-${data.aws_region.current.name}-${each.key}"
  max_session_duration = "an hour"
  force_detach_policies = "yes"
  dynamic "inline_policy" {
    for_each = []
    content {
      nope = 1
    }
  }
}

resource "aws_budgets_budget" "b" {
  count       = 1
  budget_type = "COST"
  time_unit   = "MONTHLY"
  cost_filter = []
}

resource "random_id" "x" {
  byte_length = 4
}
"""


def test_check_reports_planted_mistakes(tmp_path, schemas) -> None:
    (tmp_path / "main.tf").write_text(BAD_MODULE)
    report = _schema.check_module(schemas, tmp_path)
    found = {str(p) for p in report.problems}
    assert found == {
        "main.tf: aws_s3_bucket.lab: unsupported argument or block 'no_such'",
        "main.tf: aws_s3_bucket.lab: 'arn' is read-only (computed)",
        "main.tf: aws_s3_bucket.lab: block 'versioning' is deprecated",
        "main.tf: aws_s3_bucket_versioning.lab: 2 'versioning_configuration' blocks; at most 1",
        "main.tf: aws_iam_role.lab.inline_policy: unsupported argument or block 'nope'",
        "main.tf: aws_iam_role.lab: block 'inline_policy' is deprecated",
        "main.tf: aws_iam_role.lab: missing required argument 'assume_role_policy'",
        "main.tf: aws_budgets_budget.b: 'cost_filter' is a block: write `cost_filter { ... }`",
        "main.tf: data.aws_region.current.name is deprecated",
        "main.tf: aws_iam_role.lab: 'max_session_duration' takes a number, not a string",
        "main.tf: aws_iam_role.lab: 'force_detach_policies' takes a bool, not a string",
    }
    assert report.unchecked == {"resource random_id"}


def test_check_reports_moved_block_mistakes(tmp_path, schemas) -> None:
    """A `moved` block must leave an address no longer declared for one that is (here or in a
    called module); its addresses are not read as expressions."""
    child = tmp_path / "child"
    child.mkdir()
    (child / "variables.tf").write_text("")
    (child / "main.tf").write_text('resource "aws_sqs_queue" "q" {\n}\n')
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "main.tf").write_text(
        'module "net" {\n  source = "../child"\n}\n\n'
        'resource "aws_sqs_queue" "kept" {\n}\n\n'
        "moved {\n  from = aws_sqs_queue.gone\n  to   = module.net.aws_sqs_queue.q\n}\n\n"
        "moved {\n  from = aws_sqs_queue.kept\n  to   = module.net.aws_sqs_queue.nope\n}\n\n"
        "moved {\n  from = aws_sqs_queue.old\n  to   = module.other.aws_sqs_queue.q\n}\n"
    )
    found = {str(p) for p in _schema.check_module(schemas, parent).problems}
    assert found == {
        "main.tf: moved from aws_sqs_queue.kept, which is still declared",
        "main.tf: moved to module.net.aws_sqs_queue.nope, which is not declared",
        "main.tf: moved to module.other.aws_sqs_queue.q, which is not declared",
    }


def test_check_reports_root_mistakes(tmp_path, schemas) -> None:
    module = tmp_path / "m"
    module.mkdir()
    (module / "variables.tf").write_text('variable "project" {\n  type = string\n}\n')
    root = {
        "terraform": {"backend": {"s3": {"bucket": "b", "dynamodb_table": "t", "assume_role": {}}}},
        "provider": {
            "google": {"project": "p", "not_an_argument": 1},
        },
        "module": {"lab": {"source": "./m", "region": "x"}},
    }
    found = {str(p) for p in _schema.check_root(schemas, root, module).problems}
    assert found == {
        "terraform.backend.s3: 'dynamodb_table' is deprecated",
        "provider.google: unsupported argument or block 'not_an_argument'",
        "terraform.backend.s3: missing required argument 'key'",
        "module.lab: input 'region' is not a variable of the module",
        "module.lab: missing required input 'project'",
    }


def test_check_reports_module_call_mistakes(tmp_path, schemas) -> None:
    child = tmp_path / "child"
    child.mkdir()
    (child / "variables.tf").write_text(
        'variable "name" {\n  type = string\n}\n\nvariable "size" {\n  default = 1\n}\n\n'
        'variable "count_of" {\n  type = number\n  default = 1\n}\n\n'
        'variable "keys" {\n  type = list(string)\n  default = []\n}\n'
    )
    (child / "outputs.tf").write_text('output "arn" {\n  value = "x"\n}\n')
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "main.tf").write_text(
        'module "c" {\n  source = "../child"\n  colour = "red"\n}\n\n'
        'module "gone" {\n  source = "../nowhere"\n}\n'
    )
    (parent / "variables.tf").write_text(
        'variable "x" {\n  description = "module.c.not_checked: a literal"\n  default = 1\n}\n'
    )
    (parent / "outputs.tf").write_text(
        'output "a" {\n  value = module.c.arn\n}\n\noutput "b" {\n  value = module.c.name\n}\n\n'
        'output "d" {\n  value = module.d.arn\n}\n'
    )
    found = {str(p) for p in _schema.check_module(schemas, parent).problems}
    assert found == {
        "main.tf: module.c: input 'colour' is not a variable of the module",
        "main.tf: module.c: missing required input 'name'",
        "main.tf: module.gone: source nowhere is not a module with a variables.tf",
        "outputs.tf: module.c.name: no such output",
        "outputs.tf: reference to undeclared module.d",
    }
    root = {"module": {"lab": {"source": "./child", "name": "n", "count_of": "two", "keys": "a"},
                       "extra": {"source": "./child", "name": "${module.lab.nope}",
                                 "count_of": 2, "keys": ["a"]}}}  # fmt: skip
    found = {str(p) for p in _schema.check_root(schemas, root, child, tmp_path).problems}
    assert found == {
        "main.tf.json: module.lab.nope: no such output",
        "module.lab: input 'count_of' takes a number, not a string",
        "module.lab: input 'keys' takes a list, not a string",
    }
