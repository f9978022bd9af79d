"""`labctl prices` and `labctl cost`: the price catalog, and spend per engineer against budget.

Registered on `labctl.cli.app` by the import at the end of labctl/cli.py; parse, call, print,
like the rest of the CLI.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from labctl.cli import (
    CsvOpt,
    JsonOpt,
    NoHeadersOpt,
    _catalog,
    _check_choice,
    _print_json,
    _state,
    _teardown,
    app,
    err,
    flag,
    out,
)
from labctl.errors import ExitCode, UsageError

prices_app = typer.Typer(help="The price catalog labctl estimates and meters with.")
app.add_typer(prices_app, name="prices")
cost_app = typer.Typer(help="Spend per engineer against the monthly budget.")
app.add_typer(cost_app, name="cost")


# --- prices -------------------------------------------------------------------------------------


PRICE_COLUMNS = ("cloud", "usage", "region", "instance_type", "usd_per_hour", "unit", "as_of",
                 "source")  # fmt: skip


@prices_app.command("show")
def prices_show(
    cloud: Annotated[str | None, typer.Option(help="aws, gcp or databricks.")] = None,
    instance: Annotated[
        str | None, typer.Option(help="Only this instance type (or a part of it: m5).")
    ] = None,
    region: Annotated[str | None, typer.Option(help="Only this region.")] = None,
    usage: Annotated[
        str | None, typer.Option(help="Only this usage (training, hosting, dbu-jobs...).")
    ] = None,
    no_headers: NoHeadersOpt = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """The shipped price catalog, with each row's source and date."""
    from labctl import views
    from labctl.prices import PriceBook

    every = PriceBook.load().rows(cloud)
    _check_choice("--region", region, sorted({r["region"] for r in every}))
    _check_choice("--usage", usage, sorted({r["usage"] for r in every}))
    rows = [
        r
        for r in every
        if (not instance or instance in r["instance_type"])
        and (not region or r["region"] == region)
        and (not usage or r["usage"] == usage)
    ]
    if instance and not rows:
        from labctl.errors import did_you_mean

        types = sorted({r["instance_type"] for r in every})
        raise UsageError(f"--instance {instance}: no price{did_you_mean(instance, types)}",
                         hint="`labctl prices show` lists every row")  # fmt: skip
    if as_json:
        _print_json(rows)
    elif as_csv:
        sys.stdout.write(views.csv_text(PRICE_COLUMNS, rows))
    else:
        cols = [views.Col(c, right=c == "usd_per_hour", fold=c == "source") for c in PRICE_COLUMNS]
        views.print_table(out, cols, [[str(r[c]) for c in PRICE_COLUMNS] for r in rows],
                          title=f"{len(rows)} prices", headers=not no_headers)  # fmt: skip


@prices_app.command("refresh")
def prices_refresh() -> None:
    """Rebuild the AWS prices from the AWS Price List API (needs credentials).

    On failure the catalog in use is kept. The refreshed copy lives in $LABCTL_HOME/prices.csv."""
    import shutil
    import tempfile

    from labctl import paths
    from labctl.prices import refresh_aws, refreshed_path

    target = refreshed_path()
    source = target if target.is_file() else paths.data_file("prices.csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staging = Path(tmp) / "prices.csv"
        shutil.copyfile(source, staging)
        written = refresh_aws(staging)  # raises, keeping the catalog, when AWS is unreachable
        staging.replace(target)
    err.print(f"wrote {written} AWS prices to {target}")


# --- cost ---------------------------------------------------------------------------------------


@cost_app.command("report")
def cost_report(
    engineer: Annotated[str | None, typer.Option(help="Only this engineer.")] = None,
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month).")] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, flag("--csv", help="Print CSV, one row per lab.")] = False,
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML page.")] = None,
    no_headers: NoHeadersOpt = False,
) -> None:
    """Spend per engineer vs budget: spent, burn, forecast, percent and alert level."""
    from labctl import cost, ledger_queries, listing, reports, spend_report

    if month and not _is_month(month):
        raise UsageError(f"--month {month}: expected YYYY-MM")
    if html and html.is_dir():
        raise UsageError(f"--html {html}: is a folder", hint="name a file, e.g. report.html")
    team_cat = listing.team_catalog(_state["catalog"])
    data = spend_report.report(
        ledger_queries.open_reader(), team_cat, month=month, engineer=engineer
    )
    if html:
        try:
            html.write_text(reports.html(data, cost.team(team_cat)), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--html {html}: {exc.strerror or exc}",
                             hint="name a file in an existing folder") from None  # fmt: skip
        err.print(f"wrote {html}")
    if as_json:
        _print_json(data)
    elif as_csv:
        sys.stdout.write(reports.csv_text(data))
    elif not html:
        reports.print_report(out, data, headers=not no_headers)


@cost_app.command("sync")
def cost_sync(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month).")] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            help="aws, gcp or databricks; repeat for several "
            "(default: every cloud the ledger has runs on that month).",
        ),
    ] = None,
    dry_run: Annotated[bool, flag("--dry-run", help="Read the bills; write nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Replace estimates with the clouds' billed figures for the days their bills cover."""
    from labctl import actuals, cost
    from labctl.ledger import Ledger

    if month and not _is_month(month):
        raise UsageError(f"--month {month}: expected YYYY-MM")
    for t in target or []:
        if t not in actuals.BILLED_TARGETS:
            raise UsageError(f"--target {t}: bills are read for aws, gcp and databricks only")
    results = actuals.sync(Ledger(), cost.team(_catalog()), month=month,
                           targets=list(dict.fromkeys(target)) if target else None,
                           dry_run=dry_run)  # fmt: skip
    failed = [r for r in results if r.status == "error"]
    if as_json:
        _print_json({"dry_run": dry_run, "targets": [r.to_dict() for r in results]})
    elif not results:
        err.print("nothing to sync: no cloud runs in the ledger that month; name --target to "
                  "sync one anyway")  # fmt: skip
    for r in [] if as_json else results:
        if r.status == "error":
            err.print(f"[red]{r.target}[/]: ", end="")
            err.print(r.error, markup=False)
            if r.hint:
                err.print("[dim]hint:[/] ", end="")
                err.print(r.hint, markup=False)
        elif r.status == "nothing-to-sync":
            err.print(f"{r.target}: {r.hint}", markup=False)
        else:
            through = r.to_dict()["billed_through"]
            verb = "would write" if dry_run else "wrote"
            out.print(f"{r.target} {r.month}: billed through {through}: {verb} {r.rows} row(s), "
                      f"${r.total_usd:,.2f}", markup=False)  # fmt: skip
            for who, usd in r.by_engineer.items():
                out.print(f"  {who}: ${usd:,.2f}", markup=False)
    if failed:
        raise typer.Exit(ExitCode.ERROR)


@cost_app.command("enforce")
def cost_enforce(
    yes: Annotated[bool, flag("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, flag("--dry-run", help="List what would go.")] = False,
) -> None:
    """For cron: send due budget alerts, tear down what is over budget or past autostop.

    Everything run by engineers at 100% of their budget goes, and endpoints past --autostop."""
    from labctl import alerts, cost, orchestrator, spend_report
    from labctl.ledger import Ledger

    if not dry_run:
        ledger, cat = Ledger(), _catalog()
        team = cost.team(cat)
        for d in alerts.deliver_report(ledger, team, spend_report.report(ledger, cat)):
            if d.ok:
                levels = "/".join(f"{th}%" for th in d.thresholds)
                err.print(f"alert {levels} for {d.engineer} sent by {d.channel} to {d.detail}",
                          markup=False)  # fmt: skip
    items, reasons = orchestrator.enforcement_plan(catalog=_state["catalog"])
    if not items:
        err.print("nothing to enforce")
        return
    for reason in reasons:
        err.print(f"[yellow]enforce[/] {escape(reason)}")
    _teardown(items, yes=yes, dry_run=dry_run, as_json=False, endpoints_only=False)


def _is_month(text: str) -> bool:
    import re

    return bool(re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text))
