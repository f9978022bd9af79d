"""A lab's study session after `up`: `extend` moves its deadline, `start` brings back endpoints
that autostop (`cost enforce`, `down --endpoints-only`, the cloud's schedule) stopped.

Both are budget-checked like `up` (under the engineer's lock) and write the ledger before the
cloud: the run's `autostop_at` moves first, then the lab's Terraform stack is re-applied so its
`autostop_at` input (the cloud's expiry schedule) follows. The local target has no schedule: the
ledger alone holds the deadline and `labctl cost enforce` acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from labctl import catalog as catalog_mod
from labctl import cost
from labctl.autostop import Autostop, Deadline, deadline_for, format_duration
from labctl.backends.base import Backend, Context, get_backend
from labctl.catalog import Catalog, DeployStep, Lab, MonitorStep
from labctl.errors import BackendError, LabctlError, Refused, UsageError
from labctl.ledger import Ledger, Run, iso_utc, utcnow
from labctl.orchestrator import deadline_estimate, reapply, workspace_lock
from labctl.prices import PriceBook
from labctl.progress import Reporter

LOCAL_NOTE = "local target: no cloud schedule; `labctl cost enforce` stops endpoints past it"


@dataclass
class ExtendResult:
    run: Run
    before: datetime
    extra_usd: float  # what the extra hours of the lab's endpoints cost
    budget: cost.BudgetCheck
    enforced_by: str  # "the cloud's schedule (terraform re-applied)" or LOCAL_NOTE

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run.id, "lab": self.run.lab, "target": self.run.target,
                "engineer": self.run.engineer, "autostop_before": iso_utc(self.before),
                "autostop_at": iso_utc(self.run.autostop_at), "extra_usd": self.extra_usd,
                "enforced_by": self.enforced_by}  # fmt: skip


@dataclass
class StartResult:
    run: Run
    deadline: Deadline
    estimate: cost.Estimate
    budget: cost.BudgetCheck
    results: dict[str, dict[str, Any]]  # deploy (and monitor) step -> its result (url...)
    enforced_by: str

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run.id, "lab": self.run.lab, "target": self.run.target,
                "engineer": self.run.engineer, "estimate_usd": self.estimate.total_usd,
                **self.deadline.to_dict(), "steps": self.results,
                "enforced_by": self.enforced_by}  # fmt: skip


def session_run(ledger: Ledger, lab_name: str, *, engineer: str, target: str | None) -> Run:
    """The engineer's run of a lab that is up (one; `target` picks among several)."""
    runs = [r for r in ledger.active_runs(engineer=engineer, lab=lab_name, target=target)
            if r.status == "up"]  # fmt: skip
    if not runs:
        raise UsageError(f"lab '{lab_name}' is not up for {engineer}",
                         hint=f"`labctl status` shows what is up; `labctl up {lab_name}` starts "
                         "it")  # fmt: skip
    if len(runs) > 1:
        targets = ", ".join(r.target for r in runs)
        raise UsageError(f"lab '{lab_name}' is up on {targets}", hint="pass --target")
    return runs[0]


def run_lab(cat: Catalog, run: Run) -> Lab:
    """The lab as the run brought it up (only its milestones' steps after `up --milestone`)."""
    lab = cat.lab(run.lab)
    milestone = run.outputs.get("milestone")
    if milestone:
        from labctl.study.milestones import through

        lab = through(lab, run.lab, milestone)
    return lab


def hours_usd(lab: Lab, backend: Backend, prices: PriceBook, hours: float) -> float:
    """What `hours` more of the lab's endpoints cost, with what bills along with them (monitoring,
    hourly components): the part of its estimate that grows with the endpoints' hours."""

    def total(h: float) -> float:
        return cost.estimate(lab, backend.name, backend.region, prices,
                             endpoint_hours=h).total_usd  # fmt: skip

    return round(max(total(hours) - total(0), 0.0), 4)


def _enforcer(backend: Backend, ledger: Ledger, run: Run, lab: Lab, reporter: Reporter) -> str:
    """Make the cloud follow the run's (new) deadline: re-apply its stack; local: the ledger."""
    if backend.name == "local":
        return LOCAL_NOTE
    run = reapply(backend, run, lab, ledger, reporter)
    backend.follow_deadline(run, ledger)  # e.g. AWS quality-check schedules end at it
    return "the cloud's expiry schedule (terraform re-applied)"


def extend(
    lab_name: str, by_seconds: int, *, engineer: str, target: str | None, catalog: str | None,
    reporter: Reporter, force: bool = False, now: datetime | None = None,
) -> ExtendResult:  # fmt: skip
    """Move the run's deadline `by_seconds` later (from now when it has passed), budget-checked
    for the extra hours, then re-apply the lab's stack so the cloud's schedule follows.

    Raises:
        UsageError: the lab is not up, or has no deadline (`--autostop none`).
        Refused: its endpoints are stopped already (`labctl start` brings them back), or the
            extra hours pass the budget (BudgetRefused; `force` goes past it, recorded).
    """
    now = now or utcnow()
    cat = catalog_mod.load(catalog)
    ledger = Ledger()
    run = session_run(ledger, lab_name, engineer=engineer, target=target)
    if run.autostop_at is None:
        raise UsageError(f"lab '{lab_name}' has no deadline (it was started with --autostop "
                         "none): there is nothing to extend",
                         hint=f"`labctl down {lab_name}` ends it")  # fmt: skip
    lab = run_lab(cat, run)
    serves = any(isinstance(s, DeployStep) for s in lab.steps)
    if serves and not any(r.kind == "endpoint" for r in ledger.open_resources(run.id)):
        raise Refused(
            f"lab '{lab_name}' has no endpoint up: autostop stopped it",
            hint=f"`labctl start {lab_name}` brings it back with a new deadline",
        )
    backend = get_backend(run.target)
    before = run.autostop_at
    after = max(before, now) + timedelta(seconds=by_seconds)
    extra = hours_usd(lab, backend, PriceBook.load(), (after - before).total_seconds() / 3600)
    with workspace_lock(Path(run.workspace)):
        with ledger.engineer_lock(engineer):
            budget = cost.check_budget(ledger, cat, engineer, extra, force=force, now=now)
            run = ledger.update_run(run.id, autostop_at=after,
                                    estimate_usd=(run.estimate_usd or 0) + extra)  # fmt: skip
        cost.record_budget_events(ledger, run, budget)
        ledger.event("autostop-extended",
                     f"deadline {iso_utc(before)} -> {iso_utc(after)} "
                     f"(+{format_duration(by_seconds)}, ${extra:,.2f})", run=run,
                     autostop_before=iso_utc(before), autostop_at=iso_utc(after),
                     extra_usd=extra)  # fmt: skip
        try:
            enforced_by = _enforcer(backend, ledger, run, lab, reporter)
        except LabctlError as exc:  # the cloud keeps the old deadline: so does the ledger
            ledger.update_run(run.id, autostop_at=before, estimate_usd=run.estimate_usd - extra)
            ledger.event("autostop-extend-failed", exc.message, run=run)
            note = f"the deadline stays {iso_utc(before)}; `labctl extend {lab_name}` retries"
            exc.hint = f"{exc.hint}; {note}" if exc.hint else note
            raise
    return ExtendResult(run, before, extra, budget, enforced_by)


def start(
    lab_name: str, *, engineer: str, target: str | None, catalog: str | None,
    reporter: Reporter, autostop: Autostop = None, force: bool = False,
    now: datetime | None = None,
) -> StartResult:  # fmt: skip
    """Bring back the lab's endpoints from the models its run recorded (no retraining), inside
    the budget check, with a new deadline (`autostop`, else the team's study session).

    Raises:
        UsageError: the lab is not up (its run is over: `labctl up`), has no endpoint, or its
            endpoints are up already (`labctl extend` moves their deadline).
        BudgetRefused: the endpoints until the new deadline pass the budget (`force`: recorded).
    """
    now = now or utcnow()
    cat = catalog_mod.load(catalog)
    ledger = Ledger()
    run = session_run(ledger, lab_name, engineer=engineer, target=target)
    lab = run_lab(cat, run)
    deploys = [s.name for s in lab.steps if isinstance(s, DeployStep)]
    if not deploys:
        raise UsageError(f"lab '{lab_name}' has no endpoints to start")
    # the endpoints, and the monitoring that was deleted with them, in lab order
    steps = [s for s in lab.steps if s.name in deploys
             or (isinstance(s, MonitorStep) and s.endpoint in deploys)]  # fmt: skip
    if any(r.kind == "endpoint" for r in ledger.open_resources(run.id)):
        raise UsageError(f"the endpoints of lab '{lab_name}' are up",
                         hint=f"`labctl extend {lab_name} 2h` moves their deadline")  # fmt: skip
    backend = get_backend(run.target)
    prices = PriceBook.load()
    deadline = deadline_for(autostop, cost.team(cat), now)
    from labctl.study.milestones import only_steps

    estimate = only_steps(deadline_estimate(lab, backend, prices, deadline, now),
                          {s.name for s in steps})  # fmt: skip
    with workspace_lock(Path(run.workspace)):
        with ledger.engineer_lock(engineer):
            budget = cost.check_budget(ledger, cat, engineer, estimate.total_usd, force=force,
                                       now=now)  # fmt: skip
            run = ledger.update_run(
                run.id, autostop_at=deadline.at,
                estimate_usd=(run.estimate_usd or 0) + estimate.total_usd,
                outputs={**run.outputs, "autostop": deadline.to_dict()},
            )  # fmt: skip
        cost.record_budget_events(ledger, run, budget)
        ledger.event("started", f"endpoints {', '.join(deploys)} brought back "
                     f"until {iso_utc(deadline.at) or 'no deadline'}", run=run)  # fmt: skip
        enforced_by = _enforcer(backend, ledger, run, lab, reporter)
        run = ledger.get_run(run.id) or run
        ctx = Context(ledger=ledger, run=run, lab_name=lab_name, lab=lab,
                      workspace=Path(run.workspace), infra=dict(run.outputs.get("infra", {})),
                      prices=prices, reporter=reporter,
                      results=dict(run.outputs.get("steps", {})))  # fmt: skip
        try:
            for step in steps:
                ctx.record(step, backend.run_step(step, ctx))
        except LabctlError as exc:
            ledger.event("failed", f"start: {exc.message}", run=ctx.run)
            raise
        except Exception as exc:  # a backend bug is reported, its rows stay for `down`
            err = BackendError(f"{type(exc).__name__}: {exc}")
            ledger.event("failed", f"start: {err.message}", run=ctx.run)
            raise err from exc
    return StartResult(ctx.run, deadline, estimate, budget,
                       {s.name: ctx.results[s.name] for s in steps}, enforced_by)  # fmt: skip
