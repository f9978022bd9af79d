"""The budget in the cloud (labctl.budgets): one stack per engineer per account/project, applied
by `up` and `labctl budget`, never duplicated by a second lab, and gone from the lab modules."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from test_aws import aws_env, moto_server  # noqa: F401 (fixtures)

from labctl import budgets, catalog, config, naming, orchestrator, terraform
from labctl.backends.base import Backend, backend_for_render
from labctl.errors import TerraformError
from labctl.ledger import Ledger
from labctl.progress import Reporter

REPO = Path(__file__).resolve().parents[1]
MODULES = REPO / "terraform" / "modules"
ENGINEER = "ana@example.com"
TEAM = (
    "team:\n  monthly_budget_usd: 250\n  alert_thresholds: [25, 90, 100]\n"
    "  engineers: {Ana@Example.com: {monthly_budget_usd: 400}}\n"
    "  alerts:\n    emails: [lead@example.com]\n"
)


@pytest.fixture
def team(home, tmp_path, monkeypatch):
    file = tmp_path / "team.yaml"
    file.write_text(TEAM)
    monkeypatch.setenv("LABCTL_TEAM", str(file))
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    return catalog.load(REPO / "labs.yaml")


@pytest.fixture
def settings(home, tmp_path, monkeypatch):
    def write(text: str) -> None:
        cfg = tmp_path / "config.toml"
        cfg.write_text(text)
        monkeypatch.setenv("LABCTL_CONFIG", str(cfg))
        config.settings.cache_clear()

    return write


class FakeEngine(terraform.Engine):
    """Terraform as far as labctl sees it: records each command; apply returns the outputs."""

    name = "fake"
    path = Path("/fake/terraform")

    def __init__(self) -> None:
        self.calls: list[tuple[Path, list[str]]] = []

    def run(self, directory: Path, args: list[str]) -> tuple[int, str, str]:
        self.calls.append((directory, args))
        if args[0] == "apply":
            outputs = {"budget_name": {"value": "labctl-123456789012-ana-example-com"},
                       "account_id": {"value": "123456789012"}}  # fmt: skip
            return 0, json.dumps({"type": "outputs", "outputs": outputs}) + "\n", ""
        return 0, "", ""

    def commands(self) -> list[str]:
        return [args[0] for _, args in self.calls]


@pytest.fixture
def engine(monkeypatch):
    fake = FakeEngine()
    monkeypatch.setattr(terraform, "current_engine", lambda: fake)
    return fake


def _up(ledger: Ledger, lab: str, role: str) -> None:
    """A lab's run as `up` leaves it once its stack is applied (the role in its outputs)."""
    run = ledger.start_run(engineer=ENGINEER, lab=lab, target="aws", workspace="w", region="x")
    infra = {"role_arn": f"arn:aws:iam::1:role/{role}"}
    ledger.update_run(run.id, status="up", outputs={"infra": infra})


# --- one budget per engineer ----------------------------------------------------------------------


def test_two_labs_make_one_budget_and_an_unchanged_one_runs_no_terraform(team, engine):
    ledger = Ledger()
    aws = backend_for_render("aws")
    _up(ledger, "churn-pipeline", "labctl-ana-churn-sm-1")
    first = budgets.apply(aws, ENGINEER, team, ledger)
    assert first.status == "applied" and engine.commands() == ["init", "apply"]
    assert first.outputs["budget_name"] == "labctl-123456789012-ana-example-com"

    again = budgets.apply(aws, ENGINEER, team, ledger)  # the same lab up again: nothing runs
    assert again.status == "unchanged" and engine.commands() == ["init", "apply"]

    _up(ledger, "fraud-detection", "labctl-ana-fraud-sm-2")  # a second lab: the same stack
    second = budgets.apply(aws, ENGINEER, team, ledger)
    assert second.status == "applied" and second.directory == first.directory
    assert second.lab_roles == ["labctl-ana-churn-sm-1", "labctl-ana-fraud-sm-2"]
    folders = {d for d, _ in engine.calls}
    assert folders == {budgets.directory(ENGINEER, "aws")}
    assert folders.pop().parts[-3:] == (paths_folder(), "_budget", "aws")
    root = json.loads((Path(second.directory) / terraform.ROOT_FILE).read_text())
    assert root["module"]["lab"]["lab_role_names"] == second.lab_roles
    stacks = list((Path(second.directory) / "modules").iterdir())
    assert [s.name for s in stacks] == ["aws-budget"]
    budget = _resource("aws-budget", "aws_budgets_budget", "engineer")
    assert "count" not in budget and "for_each" not in budget  # exactly one per stack
    rendered = (stacks[0] / "main.tf").read_text()
    assert rendered.count('resource "aws_budgets_budget" ') == 1
    assert [e.kind for e in ledger.events(kind="cloud-budget")] == ["cloud-budget"] * 2


def paths_folder() -> str:
    from labctl import paths

    return paths.engineer_folder(ENGINEER)


def test_no_team_configuration_no_budget(home, engine, monkeypatch):
    monkeypatch.delenv("LABCTL_TEAM", raising=False)
    outcome = budgets.apply(backend_for_render("aws"), ENGINEER, None, Ledger())
    assert outcome.status == "off" and "team" in outcome.reason and engine.calls == []


def test_gcp_needs_a_billing_account(team, settings, engine):
    settings('[gcp]\nproject = "lab-project"\n')
    outcome = budgets.apply(backend_for_render("gcp"), ENGINEER, team, Ledger())
    assert outcome.status == "off" and "billing_account" in outcome.reason and not engine.calls
    settings('[gcp]\nproject = "lab-project"\nbilling_account = "01AB23-45CD67-89EF01"\n')
    module = budgets.root_module(backend_for_render("gcp"), budgets.spec(ENGINEER, team))
    assert module is not None
    doc = module.document()
    assert doc["module"]["lab"]["project"] == "lab-project"
    assert doc["module"]["lab"]["billing_account"] == "01AB23-45CD67-89EF01"
    # the Budgets API refuses user ADC without a quota project (issue 12)
    assert doc["provider"]["google"]["user_project_override"] is True
    assert doc["provider"]["google"]["billing_project"] == "lab-project"


def test_thresholds_amount_and_subscribers_come_from_the_team(team):
    want = budgets.spec(ENGINEER, team)
    assert want.monthly_budget_usd == 400  # the engineer's own budget (identity ignores case)
    assert want.alert_thresholds == [25, 90, 100]
    assert want.subscribers == ["lead@example.com", ENGINEER]
    inputs = budgets.root_module(backend_for_render("aws"), want, roles=["r"]).document()
    lab = inputs["module"]["lab"]
    assert (lab["monthly_budget_usd"], lab["alert_thresholds"]) == (400, [25, 90, 100])
    assert lab["engineer"] == naming.label_value(ENGINEER) and lab["lab_role_names"] == ["r"]
    assert inputs["provider"]["aws"]["default_tags"]["tags"] == {"labctl-engineer": lab["engineer"]}
    notes = _text("aws-budget", "main.tf")
    assert 'for t in var.alert_thresholds : { threshold = t, type = "ACTUAL" }' in notes
    assert "subscriber_email_addresses = var.subscribers" in notes


def test_state_key_beside_the_engineers_labs(team, settings):
    settings('[aws]\nregion = "eu-west-1"\nstate_bucket = "team-state"\n')
    module = budgets.root_module(backend_for_render("aws"), budgets.spec(ENGINEER, team))
    key = module.document()["terraform"]["backend"]["s3"]["key"]
    assert key.endswith(f"/{paths_folder()}/_budget/aws/terraform.tfstate")


# --- names, the deny policy and the action --------------------------------------------------------


def test_names_carry_the_account_or_project_and_fit_the_limits():
    aws = _locals("aws-budget")
    assert aws["budget_name"] == "labctl-${local.account_id}-${var.engineer}"
    longest = naming.label_value("x" * 200 + "@example.com")
    assert len(f"labctl-{'1' * 12}-{longest}") <= 100  # AWS Budgets: 100 characters
    prefix = naming.name_prefix("x" * 200 + "@example.com", "budget")
    assert len(f"{prefix}-budget-action") <= 64 and len(f"{prefix}-deny-new-spend") <= 128
    gcp = _resource("gcp-budget", "google_billing_budget", "engineer")
    assert gcp["display_name"] == '${substr("labctl-${var.project}-${var.engineer}", 0, 60)}'
    assert gcp["budget_filter"][0]["projects"] == ["projects/${data.google_project.this.number}"]
    assert gcp["budget_filter"][0]["labels"] == {"labctl-engineer": "${var.engineer}"}


def test_deny_policy_denies_new_sagemaker_spend_only():
    (doc,) = _data("aws-budget", "aws_iam_policy_document", "deny_new_spend")["statement"]
    assert doc["effect"] == "Deny" and doc["resources"] == ["*"]
    assert doc["actions"] == ["sagemaker:Create*", "sagemaker:Start*"]


def test_the_action_attaches_it_at_100_percent_to_the_lab_roles_least_privilege():
    action = _resource("aws-budget", "aws_budgets_budget_action", "deny_new_spend")
    assert action["action_type"] == "APPLY_IAM_POLICY" and action["approval_model"] == "AUTOMATIC"
    assert action["notification_type"] == "ACTUAL"
    assert action["action_threshold"] == [
        {"action_threshold_type": "PERCENTAGE", "action_threshold_value": "${var.action_threshold}"}
    ]
    definition = action["definition"][0]["iam_action_definition"][0]
    assert definition == {"policy_arn": "${aws_iam_policy.deny_new_spend.arn}",
                          "roles": "${var.lab_role_names}"}  # fmt: skip
    assert _variable_default("aws-budget", "action_threshold") == 100
    # the role AWS Budgets assumes: budgets in this account only ...
    (trust,) = _data("aws-budget", "aws_iam_policy_document", "budgets_trust")["statement"]
    assert trust["principals"] == [{"type": "Service", "identifiers": ["budgets.amazonaws.com"]}]
    assert trust["condition"][0]["variable"] == "aws:SourceAccount"
    # ... that may attach and detach that one policy to and from the engineer's lab roles only
    (grant,) = _data("aws-budget", "aws_iam_policy_document", "budget_action")["statement"]
    assert grant["actions"] == ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    assert grant["resources"] == "${local.lab_role_arns}"
    assert grant["condition"][0]["variable"] == "iam:PolicyARN"
    assert grant["condition"][0]["values"] == ["${aws_iam_policy.deny_new_spend.arn}"]
    assert _locals("aws-budget")["create_action"] == (
        "${length(var.subscribers) > 0 && length(var.lab_role_names) > 0}"
    )


# --- the lab modules no longer carry budgets ------------------------------------------------------


@pytest.mark.parametrize("target", ["aws", "gcp", "databricks"])
def test_lab_modules_carry_no_budget(target, team, settings, tmp_path):
    settings('[gcp]\nproject = "p1"\nbilling_account = "01AB23-45CD67-89EF01"\n')
    out = tmp_path / target
    orchestrator.render("churn-pipeline", target=target, engineer=ENGINEER, out=out,
                        catalog=str(REPO / "labs.yaml"))  # fmt: skip
    lab = json.loads((out / terraform.ROOT_FILE).read_text())["module"]["lab"]
    assert not {"monthly_budget_usd", "alert_thresholds", "alert_emails"} & set(lab)
    text = "\n".join(p.read_text() for p in (out / "modules" / target).glob("*.tf"))
    assert "aws_budgets" not in text and "billing_budget" not in text
    assert "databricks_budget" not in text and "monthly_budget_usd" not in text


# --- `up` applies it; a failure is a warning -----------------------------------------------------


class FakeAws(Backend):
    name = "aws"  # type: ignore[misc]

    def teardown(self, resource, ledger):  # pragma: no cover - not called
        raise AssertionError


def test_up_hook_warns_and_records_when_the_budget_cannot_be_applied(team, monkeypatch):
    def refuse(*_a, **_k):
        raise TerraformError("terraform apply failed: AccessDenied budgets:CreateBudget")

    monkeypatch.setattr(budgets, "apply", refuse)
    ledger = Ledger()
    warnings = orchestrator._cloud_budget(FakeAws(), ENGINEER, team, ledger, Reporter())
    assert len(warnings) == 1 and "AccessDenied" in warnings[0]
    (event,) = ledger.events(kind="cloud-budget-failed")
    assert event.engineer == ENGINEER


def test_up_hook_skips_targets_without_a_cloud_budget(team, monkeypatch):
    monkeypatch.setattr(budgets, "apply", lambda *a, **k: pytest.fail("applied on local"))
    local = backend_for_render("local")
    assert orchestrator._cloud_budget(local, ENGINEER, team, Ledger(), Reporter()) == []


def test_down_drops_a_destroyed_labs_role_from_the_action(team, engine):
    ledger = Ledger()
    aws = backend_for_render("aws")
    orchestrator._refresh_cloud_budget(aws, ENGINEER, ledger, Reporter())
    assert engine.calls == []  # no budget stack applied here: down leaves budgets alone
    _up(ledger, "churn-pipeline", "role-a")
    _up(ledger, "fraud-detection", "role-b")
    budgets.apply(aws, ENGINEER, team, ledger)
    (run_a, _) = ledger.active_runs(engineer=ENGINEER)
    ledger.update_run(run_a.id, status="down", ended_at=run_a.created_at)  # its stack is gone
    orchestrator._refresh_cloud_budget(aws, ENGINEER, ledger, Reporter())
    assert engine.commands() == ["init", "apply", "init", "apply"]
    root = json.loads((budgets.directory(ENGINEER, "aws") / terraform.ROOT_FILE).read_text())
    assert root["module"]["lab"]["lab_role_names"] == ["role-b"]


# --- show (against moto), destroy and the CLI -----------------------------------------------------


def test_show_reads_the_engineers_budgets_from_aws(aws_env, team):  # noqa: F811
    client = boto3.client("budgets", region_name="us-east-1")
    account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
    label = naming.label_value(ENGINEER)

    def create(name: str, tag: str, thresholds: list[float]) -> None:
        client.create_budget(
            AccountId=account,
            Budget={"BudgetName": name, "BudgetType": "COST", "TimeUnit": "MONTHLY",
                    "BudgetLimit": {"Amount": "400", "Unit": "USD"},
                    "CostFilters": {"TagKeyValue": [f"user:labctl-engineer${tag}"]}},
            NotificationsWithSubscribers=[
                {"Notification": {"NotificationType": "ACTUAL", "ComparisonOperator":
                                  "GREATER_THAN", "Threshold": t, "ThresholdType": "PERCENTAGE"},
                 "Subscribers": [{"SubscriptionType": "EMAIL", "Address": "lead@example.com"}]}
                for t in thresholds
            ],
        )  # fmt: skip

    create(f"labctl-{account}-{label}", label, [25, 90, 100])
    create("someone-else", "bo-example-com", [50])
    from labctl.backends.base import get_backend

    shown = budgets.show(get_backend("aws"), "aws", ENGINEER, team)
    assert shown.status == "absent" and "not applied yet" in shown.reason
    live = shown.live
    assert live["account_id"] == account
    (found,) = live["budgets"]
    assert found["name"] == f"labctl-{account}-{label}" and found["limit_usd"] == 400
    assert found["thresholds"] == [(25.0, "ACTUAL"), (90.0, "ACTUAL"), (100.0, "ACTUAL")]


def test_destroy_runs_terraform_destroy_on_the_same_stack(team, engine):
    ledger = Ledger()
    aws = backend_for_render("aws")
    assert budgets.destroy(aws, ENGINEER, ledger).status == "absent"
    budgets.apply(aws, ENGINEER, team, ledger)
    gone = budgets.destroy(aws, ENGINEER, ledger)
    assert gone.status == "destroyed" and engine.commands()[-2:] == ["init", "destroy"]
    assert not (budgets.directory(ENGINEER, "aws") / budgets.APPLIED).exists()


def test_cli_budget_commands(cli, home, tmp_path):
    shown = cli("budget", "show", "--target", "gcp", "--json")
    assert shown.code == 0, shown.stderr
    (item,) = shown.json()["items"]
    assert item["status"] == "absent" and "billing account" in item["reason"]
    refused = cli("budget", "apply", "--target", "databricks")
    assert refused.code == 2 and "README" in refused.stderr
    nothing = cli("budget", "destroy", "--target", "aws", "--yes")
    assert nothing.code == 0 and "no budget stack" in nothing.stderr


# --- helpers --------------------------------------------------------------------------------------


def _text(module: str, name: str) -> str:
    return (MODULES / module / name).read_text()


def _hcl(path: Path) -> dict:
    hcl2 = pytest.importorskip("hcl2")
    with path.open() as fh:
        return hcl2.load(fh)


def _strip(value):
    """python-hcl2 keeps quotes around strings and keys in some versions: drop them."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, dict):
        return {_strip(k): _strip(v) for k, v in value.items() if not str(k).startswith("__")}
    return value


def _blocks(module: str, kind: str, type_: str, name: str) -> dict:
    for entry in _hcl(MODULES / module / "main.tf").get(kind, []):
        entry = _strip(entry)
        if type_ in entry and name in entry[type_]:
            return entry[type_][name]
    raise AssertionError(f"{kind} {type_}.{name} not in {module}")


def _resource(module: str, type_: str, name: str) -> dict:
    return _blocks(module, "resource", type_, name)


def _data(module: str, type_: str, name: str) -> dict:
    return _blocks(module, "data", type_, name)


def _locals(module: str) -> dict:
    merged: dict = {}
    for entry in _hcl(MODULES / module / "main.tf").get("locals", []):
        merged |= _strip(entry)
    return merged


def _variable_default(module: str, name: str):
    for entry in _hcl(MODULES / module / "variables.tf").get("variable", []):
        entry = _strip(entry)
        if name in entry:
            return entry[name]["default"]
    raise AssertionError(name)
