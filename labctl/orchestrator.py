"""The flow of one lab, target-agnostic: catalog -> plan -> terraform -> steps -> ledger -> down.

The CLI calls these functions and prints what they return; backends do the target's work.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from labctl import catalog as catalog_mod
from labctl import config, cost, naming, paths, spend_report, terraform
from labctl.autostop import Autostop, Deadline, deadline_for
from labctl.backends.base import Backend, Context, Finding, backend_for_render, get_backend
from labctl.catalog import Lab
from labctl.errors import (
    BackendError,
    LabctlError,
    PartialFailure,
    Refused,
    Unsupported,
    UsageError,
)
from labctl.ledger import RESOURCE_KINDS, Ledger, Resource, Run, iso_utc, utcnow
from labctl.prices import PriceBook
from labctl.progress import Reporter
from labctl.terraform import RootModule, Stack

# --- rendering --------------------------------------------------------------------------------


def root_module(
    backend: Backend, *, engineer: str, lab: str, run_id: str, ws: Path, spec: Lab | None = None,
    autostop_at: datetime | None = None,
) -> RootModule:  # fmt: skip
    """The root module for (engineer, lab, target): common inputs plus the target's own, which
    may depend on the lab's steps (`spec`; None when only destroying). `autostop_at` is the
    run's deadline, RFC 3339 UTC (null: none), from which the cloud's expiry schedule is made."""
    tags = naming.tags(engineer, lab, run_id)
    inputs: dict[str, Any] = {
        "engineer": naming.label_value(engineer),
        "lab": lab,
        "run_id": run_id,
        "name_prefix": naming.name_prefix(engineer, lab),
        "tags": tags,
        "labels": tags,
        "autostop_at": iso_utc(autostop_at),
        **backend.module_inputs(ws, spec),
    }
    if spec:  # what the run will make, named before it exists (e.g. what the expiry deletes)
        inputs |= backend.run_inputs(spec, lab_name=lab, engineer=engineer, run_id=run_id)
    return RootModule(
        target=backend.name,
        inputs=inputs,
        provider_config=backend.provider_config(tags),
        backend=backend.backend_config(engineer, lab),
        components=backend.module_components(spec) if spec else {},
    )


def render(
    lab_name: str, *, target: str | None, engineer: str, out: Path, catalog: str | None
) -> Path:
    """Write the root module for inspection (any target; nothing is applied)."""
    lab = catalog_mod.load(catalog).lab(lab_name)
    backend = backend_for_render(config.resolve_target(target, lab.cloud))
    ws = paths.workspace(engineer, lab_name, backend.name)
    module = root_module(backend, engineer=engineer, lab=lab_name, run_id="render", ws=ws, spec=lab)
    return module.write(out)


# --- plan ---------------------------------------------------------------------------------------


def deadline_estimate(
    lab: Lab, backend: Backend, prices: PriceBook, deadline: Deadline, now: datetime, **kw: Any
) -> cost.Estimate:
    """The lab's estimate with endpoints priced up to `deadline`, which the estimate names."""
    hours = cost.committed_endpoint_hours(deadline, now)
    estimate = cost.estimate(lab, backend.name, backend.region, prices, endpoint_hours=hours, **kw)
    estimate.deadline = deadline
    return estimate


@dataclass
class PlanResult:
    lab: str
    target: str
    engineer: str
    directory: Path
    findings: list[Finding]
    estimate: cost.Estimate
    budget: cost.BudgetCheck
    changes: list[dict[str, Any]] = field(default_factory=list)
    terraform_error: str | None = None


def plan(
    lab_name: str,
    *,
    target: str | None,
    engineer: str,
    catalog: str | None,
    reporter: Reporter,
    autostop: Autostop = None,
    run_terraform: bool = True,
    now: datetime | None = None,
) -> PlanResult:
    """Render, estimate, check the budget and run `terraform plan`; changes nothing."""
    now = now or utcnow()
    cat = catalog_mod.load(catalog)
    lab = cat.lab(lab_name)
    backend = backend_for_render(config.resolve_target(target, lab.cloud))
    deadline = deadline_for(autostop, cost.team(cat), now)
    estimate = deadline_estimate(lab, backend, PriceBook.load(), deadline, now)
    ledger = Ledger()
    # force: report an over-budget run (`budget.over`) instead of refusing before the estimate
    budget = cost.check_budget(ledger, cat, engineer, estimate.total_usd, force=True, now=now)
    ws = paths.workspace(engineer, lab_name, backend.name)
    directory = ws / "plan"
    findings = backend.check(lab)
    try:
        root_module(backend, engineer=engineer, lab=lab_name, run_id="plan", ws=ws, spec=lab,
                    autostop_at=deadline.at).write(directory)  # fmt: skip
    except LabctlError as exc:  # e.g. no project: a fatal finding, after the estimate, not instead
        reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
        if not any(f.fatal for f in findings):  # else check() has said why already
            findings.append(Finding("", reason))
        run_terraform = False
    result = PlanResult(lab_name, backend.name, engineer, directory, findings, estimate, budget)
    if run_terraform:
        try:
            with reporter.task(f"terraform plan ({backend.name})"):
                stack = Stack(directory, offline_plugins=backend.offline_plugins)
                stack.init()
                result.changes = [
                    {"address": c.address, "actions": c.actions} for c in stack.plan()
                ]
        except LabctlError as exc:
            result.terraform_error = exc.message + (f"\n{exc.hint}" if exc.hint else "")
    return result


# --- up -----------------------------------------------------------------------------------------


@dataclass
class UpResult:
    run: Run
    results: dict[str, dict[str, Any]]
    estimate: cost.Estimate
    budget: cost.BudgetCheck
    warnings: list[str]


@contextmanager
def workspace_lock(ws: Path) -> Iterator[None]:
    """One labctl at a time per (engineer, lab, target); a second one is refused, not queued."""
    ws.mkdir(parents=True, exist_ok=True)
    with open(ws / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused(
                f"another labctl is working on {ws.parent.name} ({ws.name}) right now",
                hint="wait for it to finish",
            ) from None
        fh.write(str(os.getpid()))
        fh.flush()
        yield


def up(
    lab_name: str,
    *,
    target: str | None,
    engineer: str,
    catalog: str | None,
    reporter: Reporter,
    rows: int | None = None,
    max_jobs: int | None = None,
    force: bool = False,
    autostop: Autostop = None,
    milestone: int | None = None,
    now: datetime | None = None,
) -> UpResult:
    """Provision the lab with Terraform and run its steps, recording everything in the ledger.
    `milestone` N: only the steps of milestones 1..N (rendered, checked and priced alone).
    Endpoints get a deadline (labctl.autostop): `autostop`, else the team's study session."""
    now = now or utcnow()
    cat = catalog_mod.load(catalog)
    lab = cat.lab(lab_name)
    if milestone is not None:
        from labctl.study.milestones import through

        lab = through(lab, lab_name, milestone)
    backend = get_backend(config.resolve_target(target, lab.cloud))
    findings = backend.check(lab)
    fatal = [f for f in findings if f.fatal]
    if fatal:
        raise Unsupported(
            f"the {backend.name} target cannot run lab '{lab_name}':\n"
            + "\n".join(f"  - step '{f.step}': {f.reason}" for f in fatal),
            hint=f"try --target {lab.cloud}" if backend.name != lab.cloud else None,
        )
    warnings = [f"step '{f.step}': {f.reason}" for f in findings]
    for w in warnings:
        reporter.warn(w)
    prices = PriceBook.load()
    deadline = deadline_for(autostop, cost.team(cat), now)
    if short := deadline.warning(now):
        warnings.append(short)
        reporter.warn(short)
    estimate = deadline_estimate(lab, backend, prices, deadline, now, rows=rows, max_jobs=max_jobs)
    ledger = Ledger()
    ws = paths.workspace(engineer, lab_name, backend.name)
    with workspace_lock(ws):
        active = ledger.active_runs(engineer=engineer, lab=lab_name, target=backend.name)
        extending = _extendable(active, milestone)  # `up --milestone N+1` on a lab that is up
        if active and not extending:
            raise Refused(
                f"lab '{lab_name}' is already up on {backend.name} for {engineer}",
                hint=f"`labctl status` shows it; `labctl down {lab_name}` tears it down",
            )
        if extending:
            from labctl.study.milestones import only_steps

            kept = set(extending.outputs.get("steps", {}))
            estimate = only_steps(estimate, {s.name for s in lab.steps} - kept)
            with ledger.engineer_lock(engineer):
                budget = cost.check_budget(ledger, cat, engineer, estimate.total_usd, force=force,
                                           now=now)  # fmt: skip
                run = ledger.update_run(
                    extending.id,
                    estimate_usd=(extending.estimate_usd or 0) + estimate.total_usd,
                    # the next milestone is a new study session: its deadline is the run's now
                    autostop_at=deadline.at,
                )
            cost.record_budget_events(ledger, run, budget)
        else:
            kept = set()
            budget, run = cost.reserve(
                ledger,
                cat,
                engineer=engineer,
                estimate_usd=estimate.total_usd,
                force=force,
                lab=lab_name,
                target=backend.name,
                workspace=str(ws),
                region=backend.region,
                autostop_at=deadline.at,
                now=now,
            )
        # the deadline and how it was chosen (`--autostop none` is a recorded choice)
        run = ledger.update_run(run.id, outputs={**run.outputs, "autostop": deadline.to_dict()})
        if deadline.at is None:
            ledger.event("autostop-none", f"no deadline: {deadline.source}", run=run)
        if milestone is not None:
            run = ledger.update_run(run.id, outputs={**run.outputs, "milestone": milestone})
        ctx = Context(
            ledger=ledger,
            run=run,
            lab_name=lab_name,
            lab=lab,
            workspace=ws,
            infra=dict(run.outputs.get("infra", {})),
            prices=prices,
            reporter=reporter,
            rows=rows,
            max_jobs=max_jobs,
            results=dict(run.outputs.get("steps", {})),
        )
        try:
            stacks = [r for r in ledger.open_resources(run.id) if r.kind == "stack"]
            ctx.infra = _apply(backend, ctx)
            for old in stacks:  # re-applied in place: the new row stands for the stack
                ledger.close_resource(old.id, status="replaced")
            ctx.run = ledger.update_run(run.id, outputs={**ctx.run.outputs, "infra": ctx.infra})
            warnings += _cloud_budget(backend, engineer, cat, ledger, reporter)
            for step in lab.steps:
                if step.name not in kept:
                    ctx.record(step, backend.run_step(step, ctx))
            ctx.run = ledger.update_run(run.id, status="up")
        except KeyboardInterrupt:
            ledger.update_run(run.id, status="interrupted")
            ledger.event("interrupted", "labctl up was interrupted", run=run)
            raise
        except LabctlError as exc:
            _failed(ledger, run, lab_name, exc)
            raise
        except Exception as exc:  # a backend bug must still leave a ledger `down` can act on
            err = BackendError(f"{type(exc).__name__}: {exc}")
            _failed(ledger, run, lab_name, err)
            raise err from exc
    return UpResult(ctx.run, ctx.results, estimate, budget, warnings)


def _extendable(active: list[Run], milestone: int | None) -> Run | None:
    """The run `up --milestone N` extends in place: the lab is up with milestones 1..M < N."""
    run = active[-1] if len(active) == 1 else None
    was = run.outputs.get("milestone") if run else None
    return run if run and run.status == "up" and was and milestone and milestone > was else None


def _cloud_budget(
    backend: Backend, engineer: str, cat: catalog_mod.Catalog, ledger: Ledger, reporter: Reporter
) -> list[str]:
    """The engineer's budget in the cloud (labctl.budgets), applied once the lab's roles exist;
    a failure (e.g. no budgets permission) is a warning: labctl's own budget check still holds."""
    from labctl import budgets

    if backend.name not in budgets.TARGETS:
        return []
    try:
        with reporter.task(f"cloud budget ({backend.name})"):
            budgets.apply(backend, engineer, cat, ledger)
    except LabctlError as exc:
        warning = f"the {backend.name} budget for {engineer} was not applied: {exc.message}"
        reporter.warn(f"{warning} (a team lead can run `labctl budget apply`)")
        ledger.event("cloud-budget-failed", warning, engineer=engineer)
        return [warning]
    return []


def _refresh_cloud_budget(
    backend: Backend, engineer: str, ledger: Ledger, reporter: Reporter
) -> None:
    """After a lab's stack is destroyed: the budget action no longer names its role (a role
    that is gone would make the action fail for the others too). Only where a budget stack was
    applied; the team comes from $LABCTL_TEAM or the default catalog."""
    from labctl import budgets

    if backend.name not in budgets.TARGETS or not budgets.applied(engineer, backend.name):
        return
    try:
        cat = catalog_mod.load(None)
    except LabctlError as exc:
        reporter.warn(f"the {backend.name} budget keeps its lab roles: {exc.message}")
        return
    _cloud_budget(backend, engineer, cat, ledger, reporter)


def _failed(ledger: Ledger, run: Run, lab_name: str, exc: LabctlError) -> None:
    ledger.update_run(run.id, status="failed")
    ledger.event("failed", exc.message, run=run)
    left = ledger.open_resources(run.id)
    if not left:
        ledger.update_run(run.id, ended_at=utcnow())  # nothing to tear down: the run is over
    down = f"`labctl down {lab_name}`"
    if left and down not in (exc.hint or ""):
        note = f"{len(left)} resource(s) are still up: {down} removes them"
        exc.hint = f"{exc.hint}; {note}" if exc.hint else note


def _apply(backend: Backend, ctx: Context) -> dict[str, Any]:
    """terraform init + apply, with the stack in the ledger before it exists."""
    directory = ctx.workspace / "tf"
    module = root_module(
        backend,
        engineer=ctx.run.engineer,
        lab=ctx.lab_name,
        run_id=ctx.run.id,
        ws=ctx.workspace,
        spec=ctx.lab,
        autostop_at=ctx.run.autostop_at,
    )
    module.write(directory)
    res = ctx.ledger.add_resource(
        ctx.run, kind="stack", name=f"terraform:{backend.name}", provider_id=str(directory)
    )
    with ctx.reporter.task(f"terraform apply ({backend.name})"):
        try:
            stack = Stack(directory, offline_plugins=backend.offline_plugins)
            stack.init()
        except LabctlError:
            ctx.ledger.close_resource(res.id, status="not-created")  # init creates nothing
            raise
        outputs = stack.apply()
    ctx.ledger.update_resource(res.id, status="running", attrs={"outputs": outputs})
    return outputs


def reapply(backend: Backend, run: Run, lab: Lab, ledger: Ledger, reporter: Reporter) -> Run:
    """Re-render the run's root module from the ledger (e.g. a moved `autostop_at`) and apply it
    in place; the outputs go to the run and its stack row. `lab`: the lab as the run has it."""
    ws = Path(run.workspace)
    directory = ws / "tf"
    root_module(backend, engineer=run.engineer, lab=run.lab, run_id=run.id, ws=ws, spec=lab,
                autostop_at=run.autostop_at).write(directory)  # fmt: skip
    with reporter.task(f"terraform apply ({backend.name})"):
        stack = Stack(directory, offline_plugins=backend.offline_plugins)
        stack.init()
        outputs = stack.apply()
    for res in ledger.open_resources(run.id):
        if res.kind == "stack":
            ledger.update_resource(res.id, attrs={"outputs": outputs})
    return ledger.update_run(run.id, outputs={**run.outputs, "infra": outputs})


# --- down ---------------------------------------------------------------------------------------


ENDPOINT_KINDS = ("endpoint", "endpoint-config", "model")  # what `down --endpoints-only` removes


@dataclass
class DownItem:
    run: Run
    resource: Resource | None  # None: the terraform stack of a run without a ledger row
    outcome: str = "planned"  # planned | deleted | failed
    error: str | None = None


@dataclass
class DownResult:
    items: list[DownItem]
    dry_run: bool

    @property
    def failed(self) -> list[DownItem]:
        return [i for i in self.items if i.outcome == "failed"]


def teardown_plan(
    *,
    engineer: str | None,
    lab_name: str | None,
    target: str | None = None,
    endpoints_only: bool = False,
) -> list[DownItem]:
    """What `down` would delete, in order: endpoints, then jobs, then the stack, per run."""
    ledger = Ledger()
    items: list[DownItem] = []
    for run in ledger.active_runs(engineer=engineer, lab=lab_name, target=target):
        resources = sorted(
            ledger.open_resources(run.id), key=lambda r: RESOURCE_KINDS.index(r.kind)
        )
        if endpoints_only:
            resources = [r for r in resources if r.kind in ENDPOINT_KINDS]
        items += [DownItem(run, r) for r in resources]
    return items


def down(items: list[DownItem], *, reporter: Reporter, endpoints_only: bool = False) -> DownResult:
    """Tear down what `teardown_plan` listed; one failure does not stop the others.

    A broken run (its workspace locked, its backend not loadable, its state damaged beyond
    repair, or any unexpected exception) is marked failed item by item, and every other run is
    still torn down; the failures are reported together at the end (PartialFailure, exit 1).
    """
    ledger = Ledger()
    backends: dict[str, Backend] = {}
    by_run: dict[str, list[DownItem]] = {}
    for item in items:
        by_run.setdefault(item.run.id, []).append(item)
    for run_items in by_run.values():
        try:
            _down_run(ledger, backends, run_items, reporter, endpoints_only=endpoints_only)
        except Exception as exc:  # one broken run must not strand the others
            message = _reason(exc)
            run = run_items[0].run
            for item in run_items:
                if item.outcome == "planned":
                    item.outcome, item.error = "failed", message
            ledger.event("teardown-failed", message, run=run)
    result = DownResult(items, dry_run=False)
    if result.failed:
        raise PartialFailure(
            f"{len(result.failed)} of {len(items)} resource(s) could not be deleted:\n"
            + "\n".join(
                f"  - {i.run.lab} ({i.run.target}, {i.run.engineer}): "
                f"{i.resource.kind} {i.resource.name}: {i.error}"
                for i in result.failed
                if i.resource
            ),
            hint="they stay in the ledger: run the same `labctl down` again to retry",
        )
    return result


def _down_run(
    ledger: Ledger,
    backends: dict[str, Backend],
    run_items: list[DownItem],
    reporter: Reporter,
    *,
    endpoints_only: bool,
) -> None:
    """Tear down one run's items in order, under its workspace lock. A run that loses only its
    endpoints (`--endpoints-only`, or autostop in `cost enforce`) stays up for `labctl start`."""
    run = run_items[0].run
    endpoints_only = endpoints_only or all(
        i.resource is not None and i.resource.kind in ENDPOINT_KINDS for i in run_items
    )
    if run.target not in backends:
        backends[run.target] = get_backend(run.target)
    backend = backends[run.target]
    with (
        workspace_lock(Path(run.workspace)),
        reporter.task(
            f"down {run.lab} ({run.target}, {run.engineer})", total=len(run_items)
        ) as task,
    ):
        for item in run_items:
            res = item.resource
            assert res is not None
            try:
                if res.kind == "stack":
                    _destroy_stack(backend, run, ledger)
                else:
                    backend.teardown(res, ledger)
                ledger.close_resource(res.id, status="deleted")
                item.outcome = "deleted"
            except Exception as exc:  # recorded, reported, retried by the next down
                message = _reason(exc)
                item.outcome, item.error = "failed", message
                ledger.update_resource(res.id, status="delete-failed")
                ledger.event("teardown-failed", f"{res.kind} {res.name}: {message}", run=run)
            task.advance()
        left = ledger.open_resources(run.id)
        if not left:
            ledger.update_run(run.id, status="down", ended_at=utcnow())
        elif not endpoints_only or any(i.outcome == "failed" for i in run_items):
            ledger.update_run(run.id, status="partial")
    if any(i.outcome == "deleted" and i.resource and i.resource.kind == "stack" for i in run_items):
        _refresh_cloud_budget(backend, run.engineer, ledger, reporter)


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, LabctlError) else f"{type(exc).__name__}: {exc}"


def _destroy_stack(backend: Backend, run: Run, ledger: Ledger) -> None:
    """terraform destroy, after repairing what an interrupted `up` may have left (a stale lock,
    an empty or damaged state: see Stack.recover). Only the local target re-creates to rebuild a
    lost state (its null resources and folders); a cloud run restores a backup or stops with the
    run's tags, by which its resources are found, never creating anything during a `down`."""
    directory = Path(run.workspace) / "tf"
    if not (directory / "main.tf.json").exists():
        root_module(
            backend, engineer=run.engineer, lab=run.lab, run_id=run.id, ws=Path(run.workspace)
        ).write(directory)
    stack = Stack(directory, offline_plugins=backend.offline_plugins)
    local_state = backend.backend_config(run.engineer, run.lab) is None
    note = destroy_stack(stack, local_state=local_state, recreate=backend.name == "local")
    if note:
        ledger.event("state-recovered", f"{directory}: {note}", run=run)


def destroy_stack(stack: Stack, *, local_state: bool, recreate: bool) -> str | None:
    """`terraform destroy`, a local state first made usable (`terraform.recover`, which ends
    with `init`; says what it repaired); a remote state is only `init`ed."""
    note = terraform.recover(stack, recreate=recreate) if local_state else None
    if not local_state:
        stack.init()
    stack.destroy()
    return note


# --- status and invoke --------------------------------------------------------------------------


def endpoint_of(lab_name: str, *, engineer: str) -> tuple[Backend, Resource]:
    """The open endpoint of an engineer's run of a lab (for `invoke`)."""
    ledger = Ledger()
    for run in reversed(ledger.active_runs(engineer=engineer, lab=lab_name)):
        for r in ledger.open_resources(run.id):
            if r.kind == "endpoint":
                return get_backend(run.target), r
    raise UsageError(
        f"lab '{lab_name}' has no endpoint up for {engineer}",
        hint=f"`labctl up {lab_name}` deploys one; `labctl status` shows what is up",
    )


def enforcement_plan(*, catalog: str | None) -> tuple[list[DownItem], list[str]]:
    """What `cost enforce` tears down: everything of engineers at or over 100% of their budget,
    and endpoints past their `--autostop`. Returns the items and why each group is there."""
    cat = catalog_mod.load(catalog)
    ledger = Ledger()
    now = utcnow()
    items: list[DownItem] = []
    reasons: list[str] = []
    seen: set[str] = set()
    for entry in spend_report.report(ledger, cat, now=now)["engineers"]:
        if entry["over_budget"]:  # at or over 100%, whatever the alert thresholds
            found = teardown_plan(engineer=entry["engineer"], lab_name=None)
            items += found
            seen |= {i.resource.id for i in found if i.resource}
            reasons.append(f"{entry['engineer']}: ${entry['spent_usd']:,.2f} of "
                           f"${entry['budget_usd']:,.2f} ({entry['percent']:.0f}%)")  # fmt: skip
    for run in ledger.active_runs():
        if run.autostop_at and run.autostop_at <= now:
            found = [i for i in teardown_plan(engineer=run.engineer, lab_name=run.lab,
                                              target=run.target, endpoints_only=True)
                     if i.resource and i.resource.id not in seen]  # fmt: skip
            if found:
                items += found
                reasons.append(
                    f"{run.lab} ({run.engineer}): past its autostop {run.autostop_at:%H:%M}"
                )
    return items, reasons
