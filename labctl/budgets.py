"""The budget in the cloud: one per engineer per AWS account or Google Cloud project.

The team configuration (`$LABCTL_TEAM`, else the catalog's `team:` section: `cost.budget_inputs`)
sets each engineer's monthly budget and alert thresholds. labctl enforces them from its ledger
(`cost.check_budget`, `cost enforce`); this module also puts them in the cloud, where they hold
with no laptop awake, as a Terraform stack of its own per (engineer, target), beside the
engineer's labs: `workspaces/<engineer-folder>/_budget/<target>` (state `_budget/<target>` in a
team's S3 state bucket). It is rendered and applied like a lab's stack (`terraform.RootModule`,
`terraform.Stack`, the same engine, backups and recovery), by every `up` on a cloud target and by
`labctl budget apply`. Applying it again changes nothing: a second lab's `up` re-applies the same
stack (one budget), and skips Terraform altogether when nothing it renders has changed.

- aws (terraform/modules/aws-budget): an `aws_budgets_budget` named `labctl-<account>-<engineer>`
  over the cost tagged `labctl-engineer`, a notification per threshold, and at 100% a budget action
  that attaches a deny-new-SageMaker-spend policy to the engineer's open lab roles (the ledger's
  `role_arn` outputs), run by a role that may attach only that policy to only those roles.
- gcp (terraform/modules/gcp-budget): a `google_billing_budget` on the billing account, over the
  cost labelled `labctl-engineer` in the project; needs `[gcp] billing_account`.
- databricks: budget policies are account-level (README, "Budgets in the cloud"); local: $0.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl import alerts, cost, naming, paths, terraform
from labctl.errors import LabctlError, Refused, UsageError
from labctl.terraform import RootModule, Stack

if TYPE_CHECKING:
    from labctl.backends.base import Backend
    from labctl.catalog import Catalog
    from labctl.ledger import Ledger

TARGETS = ("aws", "gcp")
STACK = "_budget"  # the stack's folder beside the engineer's labs (no lab has this name)
APPLIED = ".labctl-applied.json"  # what was last applied here: the rendered files' digest


@dataclass
class Spec:
    """What the team configuration asks of one engineer's cloud budget."""

    engineer: str
    monthly_budget_usd: float
    alert_thresholds: list[int]
    subscribers: list[str]  # notified at each threshold and by the action (AWS: at most 10)


@dataclass
class Outcome:
    """One engineer's budget stack on one target, after `apply`, `destroy` or `show`."""

    target: str
    engineer: str
    status: str  # applied | unchanged | busy | destroyed | absent | off
    directory: str
    reason: str | None = None  # why off, busy or absent
    outputs: dict[str, Any] = field(default_factory=dict)  # budget_name, account_id, ...
    lab_roles: list[str] = field(default_factory=list)  # aws: what the action denies at 100%
    live: dict[str, Any] | None = None  # `show` on aws: the budget as AWS reports it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spec(engineer: str, cat: Catalog | None) -> Spec | None:
    """The engineer's budget from the team configuration; None when no team is configured."""
    inputs = cost.budget_inputs(engineer, cat)
    if inputs["monthly_budget_usd"] is None:
        return None
    people = alerts.recipients(cost.team(cat), naming.identity(engineer))
    return Spec(naming.identity(engineer), inputs["monthly_budget_usd"],
                list(inputs["alert_thresholds"]), people[:10])  # fmt: skip


def directory(engineer: str, target: str) -> Path:
    """`workspaces/<engineer-folder>/_budget/<target>`: one stack per engineer and target."""
    return paths.workspace(engineer, STACK, target)


def lab_roles(ledger: Ledger, engineer: str) -> list[str]:
    """The IAM role names of the engineer's open aws runs (their `role_arn` output), sorted."""
    names = {
        str(arn).rsplit("/", 1)[-1]
        for run in ledger.active_runs(engineer=engineer, target="aws")
        if (arn := run.outputs.get("infra", {}).get("role_arn"))
    }
    return sorted(names)


def root_module(
    backend: Backend, want: Spec, *, roles: list[str] | None = None
) -> RootModule | None:
    """The budget stack's root module on `backend`'s cloud; None where it has no budget here
    (a target without one, or gcp without a billing account)."""
    from labctl.backends.modules import gcp_billing_account

    if backend.name not in TARGETS:
        return None
    label = naming.label_value(want.engineer)
    tags = {naming.TAG_KEYS[0]: label}
    inputs: dict[str, Any] = {
        "engineer": label,
        "monthly_budget_usd": want.monthly_budget_usd,
        "alert_thresholds": want.alert_thresholds,
    }
    if backend.name == "aws":
        inputs |= {
            "name_prefix": naming.name_prefix(want.engineer, "budget"),
            "tags": tags,
            "subscribers": want.subscribers,
            "lab_role_names": roles or [],
        }
    else:
        account = gcp_billing_account()
        if not account:
            return None
        project = backend.module_inputs(directory(want.engineer, backend.name))["project"]
        inputs |= {
            "project": project,
            "billing_account": account,
            "labels": tags,
            "alert_emails": want.subscribers,
        }
    return RootModule(
        target=f"{backend.name}-budget",
        inputs=inputs,
        provider_config=backend.provider_config(tags),
        backend=backend.backend_config(want.engineer, STACK),
    )


def why_off(target: str, want: Spec | None) -> str:
    """Why `target` gets no budget stack (for `show` and the JSON)."""
    if want is None:
        return "no team configuration ($LABCTL_TEAM or the catalog's `team:` section)"
    if target == "gcp":
        return "no billing account (`[gcp] billing_account` or LABCTL_GCP_BILLING_ACCOUNT)"
    if target == "databricks":
        return "Databricks budget policies are account-level: see the README"
    return f"the {target} target has no cloud budget"


def apply(backend: Backend, engineer: str, cat: Catalog | None, ledger: Ledger) -> Outcome:
    """Render and apply the engineer's budget stack on `backend`'s cloud, idempotently.

    Unchanged rendered files (the root and the module's own) since the last apply: nothing runs.
    Another labctl applying the same stack right now: `busy`, nothing runs (it makes the same
    budget). Raises what Terraform raises (TerraformError) for the caller to report.
    """
    from labctl.orchestrator import workspace_lock

    want = spec(engineer, cat)
    folder = directory(engineer, backend.name)
    roles = lab_roles(ledger, engineer) if backend.name == "aws" else []
    module = root_module(backend, want, roles=roles) if want else None
    outcome = Outcome(backend.name, naming.identity(engineer), "off", str(folder), lab_roles=roles)
    if module is None:
        outcome.reason = why_off(backend.name, want)
        return outcome
    try:
        with workspace_lock(folder):
            digest = _digest(module)
            last = _applied(folder)
            if last.get("digest") == digest:
                outcome.status, outcome.outputs = "unchanged", last.get("outputs", {})
                return outcome
            module.write(folder)
            stack = Stack(folder, offline_plugins=backend.offline_plugins)
            stack.init()
            outcome.outputs = stack.apply()
            record = {"digest": digest, "outputs": outcome.outputs, "lab_roles": roles}
            (folder / APPLIED).write_text(json.dumps(record, indent=2) + "\n")
            outcome.status = "applied"
    except Refused:
        outcome.status, outcome.reason = "busy", "another labctl is applying this budget now"
        return outcome
    ledger.event("cloud-budget", f"{backend.name} budget {outcome.outputs.get('budget_name')} "
                 f"applied for {outcome.engineer}", engineer=outcome.engineer)  # fmt: skip
    return outcome


def destroy(backend: Backend, engineer: str, ledger: Ledger) -> Outcome:
    """`terraform destroy` of the engineer's budget stack (state repaired first, as for a lab's
    stack: `orchestrator.destroy_stack`); nothing there is `absent`."""
    from labctl.orchestrator import destroy_stack, workspace_lock

    folder = directory(engineer, backend.name)
    outcome = Outcome(backend.name, naming.identity(engineer), "absent", str(folder))
    if not (folder / terraform.ROOT_FILE).exists():
        outcome.reason = "no budget stack here (`labctl budget apply` makes one)"
        return outcome
    try:
        with workspace_lock(folder):
            outcome.outputs = _applied(folder).get("outputs", {})
            remote = backend.backend_config(engineer, STACK) is not None
            note = destroy_stack(Stack(folder, offline_plugins=backend.offline_plugins),
                                 local_state=not remote, recreate=False)  # fmt: skip
            (folder / APPLIED).unlink(missing_ok=True)
    except Refused:
        outcome.status, outcome.reason = "busy", "another labctl is applying this budget now"
        return outcome
    outcome.status, outcome.reason = "destroyed", note
    ledger.event("cloud-budget", f"{backend.name} budget destroyed for {outcome.engineer}",
                 engineer=outcome.engineer)  # fmt: skip
    return outcome


def show(backend: Backend | None, target: str, engineer: str, cat: Catalog | None) -> Outcome:
    """What labctl last applied here (`applied`, or `absent` with the reason) and, on aws with
    its SDK, the engineer's budgets as AWS reports them (`live`)."""
    folder = directory(engineer, target)
    last = _applied(folder)
    outcome = Outcome(target, naming.identity(engineer), "applied" if last else "absent",
                      str(folder), outputs=last.get("outputs", {}),
                      lab_roles=last.get("lab_roles", []))  # fmt: skip
    if not last:
        want = spec(engineer, cat)
        off = want is None or backend is None or root_module(backend, want) is None
        outcome.reason = why_off(target, want) if off else "not applied yet (`labctl budget apply`)"
    if target == "aws" and backend is not None and hasattr(backend, "_api"):
        try:
            outcome.live = aws_budgets(backend, engineer)
        except LabctlError as exc:  # no credentials here: what labctl applied is still shown
            outcome.live = {"error": exc.message}
    return outcome


def aws_budgets(backend: Any, engineer: str) -> dict[str, Any]:
    """The budgets of this account filtering on the engineer's tag, with their notifications:
    the stack's one, and any a lab's module made before budgets had a stack of their own."""
    account = backend._api("sts", "get_caller_identity")["Account"]
    wanted = f"user:{naming.TAG_KEYS[0]}${naming.label_value(engineer)}"
    found = []
    token: str | None = None
    while True:
        page = backend._api("budgets", "describe_budgets", AccountId=account, MaxResults=100,
                            **({"NextToken": token} if token else {}))  # fmt: skip
        for b in page.get("Budgets", []):
            if wanted not in b.get("CostFilters", {}).get("TagKeyValue", []):
                continue
            notes = backend._api("budgets", "describe_notifications_for_budget",
                                 AccountId=account, BudgetName=b["BudgetName"])  # fmt: skip
            spent = b.get("CalculatedSpend", {}).get("ActualSpend", {}).get("Amount")
            found.append({
                "name": b["BudgetName"],
                "limit_usd": float(b["BudgetLimit"]["Amount"]),
                "spent_usd": float(spent) if spent is not None else None,
                "thresholds": sorted(
                    {(n["Threshold"], n["NotificationType"]) for n in notes["Notifications"]}
                ),
            })  # fmt: skip
        token = page.get("NextToken")
        if not token:
            return {"account_id": account, "budgets": found}


def applied(engineer: str, target: str) -> bool:
    """Whether labctl has applied this engineer's budget stack on `target` from here."""
    return bool(_applied(directory(engineer, target)))


def _digest(module: RootModule) -> str:
    """Of the root document and the module files it calls: a new labctl re-applies."""
    h = hashlib.sha256(json.dumps(module.document(), sort_keys=True).encode())
    for path in sorted((paths.terraform_modules() / module.target).glob("*.tf")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def _applied(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / APPLIED).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def target_of(name: str) -> str:
    """`--target` of the budget commands: aws or gcp."""
    if name not in TARGETS:
        raise UsageError(f"--target {name}: cloud budgets exist on {' and '.join(TARGETS)}",
                         hint="Databricks: see the README (budget policies)")  # fmt: skip
    return name
