"""`labctl budget apply|show|destroy`: each engineer's budget in the cloud (labctl.budgets).

For a team lead: the budgets `up` applies, managed without bringing a lab up. Registered on
`labctl.cli.app` by the import at the end of labctl/cli.py; parse, call labctl.budgets, print.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from labctl.cli import EngineerOpt, JsonOpt, _catalog, _engineer, _print_json, app, err, out
from labctl.errors import ExitCode, LabctlError, UsageError

budget_app = typer.Typer(help="Each engineer's budget in the cloud (AWS Budgets, Google billing).")
app.add_typer(budget_app, name="budget")

BudgetTargetOpt = Annotated[
    str | None, typer.Option("--target", "-t", help="aws or gcp (default: both).")
]
AllOpt = Annotated[
    bool,
    typer.Option("--all-engineers", help="The team configuration's engineers and the ledger's."),
]


def _who(engineer: str | None, all_engineers: bool, cat: Any) -> list[str]:
    """The engineers a command acts on: one, or the team's and those with runs in the ledger."""
    from labctl import cost, naming
    from labctl.ledger import Ledger

    if engineer and all_engineers:
        raise UsageError("pass --engineer or --all-engineers, not both")
    if not all_engineers:
        return [_engineer(engineer)]
    known = set(cost.team(cat).engineers) | {r.engineer for r in Ledger().active_runs()}
    return sorted({naming.identity(e) for e in known})


def _targets(target: str | None) -> list[str]:
    from labctl import budgets

    return [budgets.target_of(target)] if target else list(budgets.TARGETS)


def _backend(target: str) -> Any:
    from labctl.backends.base import backend_for_render

    return backend_for_render(target)


@budget_app.command("apply")
def apply_(
    target: BudgetTargetOpt = None,
    engineer: EngineerOpt = None,
    all_engineers: AllOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create or update the engineer's budget (one per AWS account / Google Cloud project) from
    the team configuration; unchanged budgets are left alone."""
    from labctl import budgets
    from labctl.ledger import Ledger

    cat = _catalog()
    ledger = Ledger()
    pairs = [(who, name) for who in _who(engineer, all_engineers, cat) for name in _targets(target)]
    _report(*_each(pairs, lambda who, name: budgets.apply(_backend(name), who, cat, ledger)),
            as_json)  # fmt: skip


@budget_app.command("show")
def show(
    target: BudgetTargetOpt = None,
    engineer: EngineerOpt = None,
    all_engineers: AllOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """The engineer's budget stacks: what was applied, the lab roles the AWS action covers and,
    on AWS, the budgets filtering on the engineer's tag as AWS reports them."""
    from labctl import budgets

    cat = _catalog()
    pairs = [(who, name) for who in _who(engineer, all_engineers, cat) for name in _targets(target)]
    _report(*_each(pairs, lambda who, name: budgets.show(_backend(name), name, who, cat)),
            as_json)  # fmt: skip


@budget_app.command("destroy")
def destroy(
    target: BudgetTargetOpt = None,
    engineer: EngineerOpt = None,
    all_engineers: AllOpt = False,
    as_json: JsonOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Destroy without asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List only.")] = False,
) -> None:
    """Remove the engineer's budget, its alerts and its deny action (the next `up` with a team
    budget makes them again)."""
    from labctl import budgets
    from labctl.ledger import Ledger

    cat = _catalog()
    pairs = [(who, name) for who in _who(engineer, all_engineers, cat) for name in _targets(target)
             if (budgets.directory(who, name) / "main.tf.json").exists()]  # fmt: skip
    for who, name in pairs:
        err.print(f"  {name} budget of {who}")
    if not pairs:
        _report([], [], as_json) if as_json else err.print("no budget stack to destroy")
        return
    if dry_run:
        if as_json:
            _print_json({"status": "dry-run", "items": [{"target": n, "engineer": w}
                                                        for w, n in pairs]})  # fmt: skip
        return
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("refusing to destroy budgets without confirmation", hint="pass --yes")
        if not typer.confirm(f"Destroy these {len(pairs)} budget(s)?", default=False, err=True):
            err.print("nothing destroyed")
            raise typer.Exit(ExitCode.ERROR)
    ledger = Ledger()
    _report(*_each(pairs, lambda who, name: budgets.destroy(_backend(name), who, ledger)), as_json)


def _each(
    pairs: list[tuple[str, str]], act: Callable[[str, str], Any]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """`act(engineer, target)` for each pair: the outcomes, and each failure as data."""
    outcomes, failures = [], []
    for who, name in pairs:
        try:
            outcomes.append(act(who, name))
        except LabctlError as exc:
            failures.append({"target": name, "engineer": who, "error": exc.message,
                             "hint": exc.hint})  # fmt: skip
    return outcomes, failures


def _report(outcomes: list[Any], failures: list[dict[str, Any]], as_json: bool) -> None:
    """JSON, or a table and the failures on stderr; exit 1 when any failed."""
    from labctl.views import Col, print_table

    if as_json:
        _print_json({"status": "partial" if failures else "ok",
                     "items": [o.to_dict() for o in outcomes], "errors": failures})  # fmt: skip
    else:
        rows = []
        for o in outcomes:
            cloud = o.live or {}
            live = cloud.get("error") or "; ".join(
                f"{b['name']} ${b['limit_usd']:,.2f}" for b in cloud.get("budgets", [])
            )
            rows.append([o.target, o.engineer, o.status, str(o.outputs.get("budget_name") or ""),
                         ", ".join(o.lab_roles), live, o.reason or ""])  # fmt: skip
        cols = [Col("target"), Col("engineer"), Col("status"), Col("budget"),
                Col("lab roles (deny at 100%)", fold=True), Col("in the cloud", fold=True),
                Col("note", fold=True)]  # fmt: skip
        if rows:
            print_table(out, cols, rows)
        elif not failures:
            err.print("no engineer: none in the team configuration or with a lab up")
        for f in failures:
            err.print(f"[red]{f['target']} ({f['engineer']})[/]: ", end="")
            err.print(f["error"] + (f" ({f['hint']})" if f["hint"] else ""), markup=False)
    if failures:
        raise typer.Exit(ExitCode.ERROR)
