"""`labctl extend` on a cloud run (issue 13): the extra hours are budget-checked, the ledger's
`autostop_at` moves first, and the lab's stack is re-applied with the new `autostop_at` input
(the cloud's expiry schedule follows); a failed apply puts the old deadline back.

Terraform for aws cannot init offline: the Stack's init/apply are replaced by a recorder, the
rendered root module is the real one. The local target end to end is in test_autostop_start."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from labctl import orchestrator, paths, session
from labctl.errors import BudgetRefused, TerraformError
from labctl.ledger import Ledger
from labctl.progress import Reporter

NOW = datetime(2026, 12, 1, 10, 0)
DEADLINE = datetime(2026, 12, 1, 18, 0)
ENG = "ana@example.com"
LAB = "churn-pipeline"


@pytest.fixture
def aws_run(home, tmp_path, monkeypatch):
    """ana's churn-pipeline up on aws since 10:00 with an ml.m5.large endpoint and a deadline at
    18:00; the team budget is $5, of which $4 went on a job this morning."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    team = tmp_path / "team.yaml"
    team.write_text("team:\n  monthly_budget_usd: 5\n")
    monkeypatch.setenv("LABCTL_TEAM", str(team))
    led = Ledger(clock=lambda: NOW)
    ws = paths.workspace(ENG, LAB, "aws")
    run = led.start_run(engineer=ENG, lab=LAB, target="aws", workspace=str(ws),
                        autostop_at=DEADLINE, estimate_usd=1.0)  # fmt: skip
    led.add_resource(run, kind="stack", name="terraform:aws", provider_id=str(ws / "tf"))
    led.add_resource(run, kind="endpoint", name="ep", instance_type="ml.m5.large",
                     price_per_hour=0.115)  # fmt: skip
    job = led.add_resource(run, kind="training-job", name="job", price_per_hour=4.0)
    led.update_resource(job.id, started_at=NOW - timedelta(hours=2))
    led.close_resource(job.id, stopped_at=NOW - timedelta(hours=1))
    return led.update_run(run.id, status="up", outputs={"infra": {"bucket": "old"}})


class Applied:
    """Stands in for terraform.Stack: records the folders it applied; `fail` makes apply fail."""

    folders: ClassVar[list[Path]] = []
    fail = False

    def __init__(self, directory: Path, offline_plugins: bool = False) -> None:
        self.directory = directory

    def init(self) -> None:
        pass

    def apply(self) -> dict[str, str]:
        if Applied.fail:
            raise TerraformError("terraform apply failed: ThrottlingException")
        Applied.folders.append(self.directory)
        return {"bucket": "new"}


@pytest.fixture
def stack(monkeypatch):
    Applied.folders, Applied.fail = [], False
    monkeypatch.setattr(orchestrator, "Stack", Applied)
    return Applied


def extend(hours: float, now: datetime = NOW, force: bool = False) -> session.ExtendResult:
    return session.extend(LAB, int(hours * 3600), engineer=ENG, target=None, catalog=None,
                          reporter=Reporter(), force=force, now=now)  # fmt: skip


def test_extend_moves_the_deadline_and_reapplies_the_stack_with_it(aws_run, stack):
    result = extend(2)
    run = Ledger().get_run(aws_run.id)
    assert run.autostop_at == DEADLINE + timedelta(hours=2) and result.before == DEADLINE
    # two more hours of the endpoint ($0.115/h) and what bills with it (monitoring, components)
    assert 2 * 0.115 <= result.extra_usd < 1
    assert run.estimate_usd == pytest.approx(1.0 + result.extra_usd)
    (folder,) = stack.folders
    module = json.loads((folder / "main.tf.json").read_text())["module"]["lab"]
    assert module["autostop_at"] == "2026-12-01T20:00:00Z"
    (row,) = [r for r in Ledger().open_resources(run.id) if r.kind == "stack"]
    assert row.attrs["outputs"] == {"bucket": "new"} and run.outputs["infra"] == {"bucket": "new"}
    (event,) = Ledger().events(kind="autostop-extended")
    assert event.data["autostop_before"] == "2026-12-01T18:00:00Z"
    assert "terraform re-applied" in result.enforced_by


def test_a_passed_deadline_is_extended_from_now(aws_run, stack):
    extend(1, now=DEADLINE + timedelta(minutes=30), force=True)  # the endpoint's 8.5 h: $0.98
    assert Ledger().get_run(aws_run.id).autostop_at == DEADLINE + timedelta(minutes=90)


def test_extra_hours_past_the_budget_are_refused_unless_forced(aws_run, stack):
    with pytest.raises(BudgetRefused) as refused:
        extend(10)  # $4 spent + 10 h x $0.115 (and more) > $5
    assert "$4.00" in refused.value.message and "$5.00" in refused.value.message
    assert Ledger().get_run(aws_run.id).autostop_at == DEADLINE and not stack.folders
    assert not Ledger().events(kind="autostop-extended")
    extend(10, force=True)
    assert Ledger().get_run(aws_run.id).autostop_at == DEADLINE + timedelta(hours=10)
    assert Ledger().events(kind="budget-override")


def test_a_failed_apply_keeps_the_old_deadline(aws_run, stack):
    stack.fail = True
    with pytest.raises(TerraformError) as failed:
        extend(2)
    assert "the deadline stays 2026-12-01T18:00:00Z" in failed.value.hint
    run = Ledger().get_run(aws_run.id)
    assert run.autostop_at == DEADLINE and run.estimate_usd == pytest.approx(1.0)
    assert Ledger().events(kind="autostop-extend-failed")
