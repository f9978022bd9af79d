"""`labctl sweep`: find (and with --yes delete) tagged resources the ledger does not show as open.

Registered on `labctl.cli.app` by the import at the end of labctl/cli.py; parse, call
labctl.sweep, print, like the rest of the CLI.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from labctl.cli import EngineerOpt, JsonOpt, _engineer, _print_json, _reporter, app, err, out
from labctl.errors import ExitCode, UsageError

SweepTargetOpt = Annotated[
    str | None,
    typer.Option("--target", "-t", help="aws, gcp or databricks (default: all three)."),
]


@app.command()
def sweep(
    target: SweepTargetOpt = None,
    engineer: EngineerOpt = None,
    all_engineers: Annotated[
        bool, typer.Option("--all-engineers", help="Everyone's tagged resources.")
    ] = False,
    as_json: JsonOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List only (the default without a terminal).")
    ] = False,
) -> None:
    """Find billable resources carrying labctl's tags that the ledger does not show as open
    (a lost laptop, a deleted ledger.db), with their $/h; delete them with --yes."""
    from labctl import sweep as sweep_mod

    if target is not None and target not in sweep_mod.TARGETS:
        raise UsageError(f"--target {target}: expected one of {', '.join(sweep_mod.TARGETS)}")
    if engineer and all_engineers:
        raise UsageError("pass --engineer or --all-engineers, not both")
    who = None if all_engineers else _engineer(engineer)
    from labctl.ledger import Ledger

    ledger = Ledger()
    if who is None and ledger.engine.dialect.name == "sqlite":
        err.print(
            "[yellow]warning[/]: this ledger is this machine's alone: labs other engineers run "
            "from their own ledgers are listed as strays (share one with LABCTL_DB_URL)"
        )
    targets = [target] if target else sweep_mod.TARGETS
    result = sweep_mod.find(targets=targets, engineer=who, ledger=ledger)
    for name, why in result.skipped.items():
        err.print(f"[dim]{name}: not swept ({why})[/]")
    for name, why in result.errors.items():
        err.print(f"[red]{name}: not swept[/]: ", end="")
        err.print(why, markup=False)
    strays = result.strays

    def report(status: str) -> None:
        if as_json:
            items = [s.to_dict() for s in strays]
            _print_json({"status": status, "engineer": who, "usd_per_hour": _burn(strays),
                         "items": items, "errors": result.errors})  # fmt: skip

    if not strays:
        report("nothing-to-do")
        if not as_json:
            where = " on the clouds reached" if result.errors else ""
            err.print(f"nothing to sweep{where}: no tagged resource outside the ledger")
    else:
        if not as_json:
            out.print(_table(strays))
        if dry_run or (not yes and not _interactive()):
            report("dry-run")
            if not as_json:
                err.print(f"{len(strays)} resource(s) would be deleted; pass --yes to delete them")
        elif not yes and not typer.confirm(
            f"Delete these {len(strays)} resource(s)?", default=False, err=True
        ):
            err.print("nothing deleted")
            raise typer.Exit(ExitCode.ERROR)
        else:
            try:
                sweep_mod.delete(strays, reporter=_reporter(as_json))
            finally:
                report("partial" if any(s.outcome == "failed" for s in strays) else "ok")
            if not as_json:
                out.print(f"[green]swept[/]: {len(strays)} resource(s) deleted")
    if result.errors:
        raise typer.Exit(ExitCode.ERROR)  # a cloud could not be swept (named above)


def _interactive() -> bool:
    """Whether a person can answer the confirmation (stdin is a terminal)."""
    return sys.stdin.isatty()


def _burn(strays: list[Any]) -> float:
    return round(sum(s.usd_per_hour or 0 for s in strays), 4)


def _table(strays: list[Any]) -> Any:
    from rich.table import Table

    table = Table(title="Tagged resources the ledger does not show as open", title_justify="left")
    for col in ("target", "engineer", "lab", "resource", "status", "instances", "$/h"):
        table.add_column(col, overflow="fold")
    for s in strays:
        d = s.to_dict()
        instances = ", ".join(f"{i['count']} x {i['instance_type']}" for i in d["instances"])
        burn = f"{s.usd_per_hour:.3f}" if s.usd_per_hour is not None else "-"
        table.add_row(s.target, d["engineer"] or "", d["lab"] or "", f"{s.kind} {s.name}",
                      s.status, instances, burn)  # fmt: skip
    table.add_row("", "", "", "[bold]total[/]", "", "", f"[bold]{_burn(strays):.3f}[/]",
                  end_section=True)  # fmt: skip
    return table
