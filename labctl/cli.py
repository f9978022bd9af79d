"""The `labctl` command line: parse, call the orchestrator, print. Nothing else lives here.

Data goes to stdout (tables, or JSON with --json); progress, warnings and errors go to stderr.
Every LabctlError is printed here, once, without a traceback (`--debug` shows it).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from labctl.errors import ExitCode, LabctlError, UsageError

app = typer.Typer(
    help="Bring ML certification labs up and down on SageMaker, Vertex AI, Databricks or this "
    "machine, and keep each engineer's spend inside a monthly budget.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
prices_app = typer.Typer(help="The price catalog labctl estimates and meters with.")
app.add_typer(prices_app, name="prices")
cost_app = typer.Typer(help="Spend per engineer against the monthly budget.")
app.add_typer(cost_app, name="cost")

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_state: dict[str, Any] = {"catalog": None, "debug": False}

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
TargetOpt = Annotated[
    str | None,
    typer.Option("--target", "-t", help="local, aws, gcp, databricks or native (the lab's cloud)."),
]
AutostopOpt = Annotated[
    str | None,
    typer.Option(help="Endpoints stop after e.g. 2h (priced so; else until month end)."),
]
EngineerOpt = Annotated[
    str | None,
    typer.Option(help="Whose lab (default: LABCTL_ENGINEER, git user.email, OS user)."),
]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _catalog() -> Any:
    from labctl import catalog

    return catalog.load(_state["catalog"])


def _reporter(quiet: bool = False) -> Any:
    from labctl.progress import Reporter, RichReporter

    return Reporter() if quiet else RichReporter(err)


def _engineer(explicit: str | None) -> str:
    from labctl import config

    return config.engineer(explicit)


@app.callback()
def _main(
    catalog: Annotated[
        str | None,
        typer.Option("--catalog", envvar="LABCTL_CATALOG", help="The catalog file (labs.yaml)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    _state.update(catalog=catalog, debug=debug)


# --- the catalog -----------------------------------------------------------------------------


@app.command("list")
def list_labs(
    cert: Annotated[str | None, typer.Option(help="Only labs for this certification.")] = None,
    cloud: Annotated[
        str | None, typer.Option(help="Only labs native to aws, gcp or databricks.")
    ] = None,
    domain: Annotated[str | None, typer.Option(help="Only labs covering this domain id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the labs in the catalog."""
    from labctl import listing
    from labctl.errors import did_you_mean
    from labctl.views import labs_table

    index = listing.index(_state["catalog"])
    certs = index["certifications"]
    if cert and cert not in certs:
        raise UsageError(f"no certification '{cert}'{did_you_mean(cert, certs)}",
                         hint="`labctl certs` lists them")  # fmt: skip
    rows = [
        row
        for row in index["labs"]
        if (not cert or cert in row["certs"])
        and (not cloud or row["cloud"] == cloud)
        and (not domain or any(d == domain or d.endswith("/" + domain) for d in row["domains"]))
    ]
    if as_json:
        _print_json(rows)
    else:
        out.print(labs_table(rows))


@app.command()
def show(lab: str, as_json: JsonOpt = False) -> None:
    """What a lab builds: architecture, domains, services, milestones and steps."""
    from labctl.views import show_lab

    cat = _catalog()
    item = cat.lab(lab)
    if as_json:
        _print_json({"name": lab, **item.model_dump(mode="json")})
    else:
        show_lab(out, lab, item, cat)


@app.command()
def certs(as_json: JsonOpt = False) -> None:
    """Certifications, their exam domains and weights, and which labs cover each domain."""
    from labctl.views import certs_table, certs_view

    view = certs_view(_catalog())
    if as_json:
        _print_json(view)
    else:
        out.print(certs_table(view))


@app.command()
def validate(
    file: Annotated[Path | None, typer.Argument(help="Default: the catalog in use.")] = None,
) -> None:
    """Check a catalog; exit 0 when it is valid, 1 with file:line errors when not."""
    from labctl import catalog

    path = catalog.catalog_path(file or _state["catalog"])
    cat = catalog.load(path)
    steps = sum(len(lab.steps) for lab in cat.labs.values())
    err.print(f"[green]ok[/] {path}: {len(cat.labs)} labs, {steps} steps, "
              f"{len(cat.certifications)} certifications")  # fmt: skip


# --- the lifecycle -----------------------------------------------------------------------------


@app.command()
def render(
    lab: str,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the root module to.")],
    target: TargetOpt = None,
    engineer: EngineerOpt = None,
) -> None:
    """Write a lab's Terraform root module (any target) for inspection; applies nothing."""
    from labctl import orchestrator

    path = orchestrator.render(lab, target=target, engineer=_engineer(engineer), out=out_dir,
                               catalog=_state["catalog"])  # fmt: skip
    err.print(f"wrote {path} and {path.parent / 'modules'}")


@app.command()
def plan(
    lab: str,
    target: TargetOpt = None,
    engineer: EngineerOpt = None,
    autostop: AutostopOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Render, estimate cost, check the budget and run `terraform plan`; changes nothing."""
    from labctl import orchestrator, views

    result = orchestrator.plan(lab, target=target, engineer=_engineer(engineer),
                               catalog=_state["catalog"], reporter=_reporter(as_json),
                               autostop=_duration(autostop))  # fmt: skip
    if as_json:
        _print_json({
            "lab": result.lab, "target": result.target, "engineer": result.engineer,
            "module": str(result.directory), "estimate": result.estimate.to_dict(),
            "budget": {"budget_usd": result.budget.budget_usd, "spent_usd": result.budget.spent_usd,
                       "after_usd": result.budget.after_usd, "over": result.budget.over},
            "findings": [vars(f) for f in result.findings], "changes": result.changes,
            "terraform_error": result.terraform_error,
        })  # fmt: skip
        return
    out.print(f"[bold]{result.lab}[/] on [bold]{result.target}[/], rendered in {result.directory}")
    for f in result.findings:
        colour = "red" if f.fatal else "yellow"
        where = f" step '{f.step}'" if f.step else ""
        out.print(f"[{colour}]{'refuses' if f.fatal else 'note'}[/]{escape(where)}: ", end="")
        out.print(f.reason, markup=False)
    if result.terraform_error:
        out.print("[yellow]terraform plan did not run:[/] ", end="")
        out.print(result.terraform_error, markup=False)
    else:
        out.print(f"terraform plan: {len(result.changes)} change(s)")
        for c in result.changes:
            out.print(f"  {'/'.join(c['actions'])} {c['address']}", markup=False)
    out.print(views.estimate_table(result.estimate))
    out.print(views.budget_line(result.budget))


def _duration(text: str | None) -> int | None:
    from labctl.catalog import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--autostop: {exc}") from None


@app.command()
def up(
    lab: str,
    target: TargetOpt = None,
    engineer: EngineerOpt = None,
    rows: Annotated[int | None, typer.Option(min=100, help="Rows for the data steps.")] = None,
    trials: Annotated[
        int | None, typer.Option(min=1, help="Tuning jobs (overrides max_jobs).")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Go past the budget (recorded in the ledger).")
    ] = False,
    autostop: AutostopOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Provision a lab with Terraform and run its steps: data, train, tune, deploy..."""
    from labctl import orchestrator, views

    who = _engineer(engineer)
    result = orchestrator.up(lab, target=target, engineer=who, catalog=_state["catalog"],
                             reporter=_reporter(as_json), rows=rows, max_jobs=trials, force=force,
                             autostop=_duration(autostop))  # fmt: skip
    if as_json:
        _print_json({"run": result.run.id, "lab": lab, "engineer": who, "target": result.run.target,
                     "estimate_usd": result.estimate.total_usd, "steps": result.results,
                     "warnings": result.warnings})  # fmt: skip
        return
    for threshold in result.budget.crossed:
        err.print(f"[yellow]warning:[/] this run takes {who} past {threshold}% of the budget")
    out.print(f"[green]up[/] {lab} on {result.run.target} (run {result.run.id})")
    for name, res in result.results.items():
        out.print(f"  {name}: ", end="")
        out.print(_step_summary(res), markup=False)
    out.print(views.budget_line(result.budget))
    out.print(f"`labctl status` shows it; `labctl down {lab}` tears it down.")


def _step_summary(res: dict[str, Any]) -> str:
    """One line per step result: endpoint URL, metrics, rows, output or why it was skipped."""
    if res.get("skipped"):
        return f"skipped ({res['skipped']})"
    parts = [res[k] for k in ("url",) if res.get(k)]
    parts += [f"{k}={v:.4f}" for k, v in (res.get("metrics") or {}).items() if ":" in k]
    if "rows" in res:
        parts.append(f"{res['rows']:,} rows in {res.get('dir') or res.get('s3_uri', '')}")
    if "records" in res:
        parts.append(f"{res['records']:,} records scored into {res.get('output', '')}")
    if "baseline" in res:
        parts.append(f"baseline in {res['baseline']}")
    if "trials" in res:
        parts.append(f"{res['trials']} trials, {res.get('pruned', 0)} pruned")
    return "; ".join(str(p) for p in parts) or "done"


@app.command()
def status(
    engineer: EngineerOpt = None,
    all_engineers: Annotated[
        bool, typer.Option("--all-engineers", help="Everyone's runs.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """What is up, for whom, and what it burns per hour."""
    from labctl import orchestrator, views

    runs = orchestrator.status(engineer=None if all_engineers else _engineer(engineer))
    if as_json:
        _print_json(runs)
    elif runs:
        out.print(views.status_table(runs))
    else:
        err.print("nothing is up")


@app.command()
def invoke(
    lab: str,
    data: Annotated[str, typer.Option("--data", help="A file of records, or - for stdin.")] = "-",
    content_type: Annotated[
        str | None, typer.Option(help="Default: the lab's (text/csv...).")
    ] = None,
    accept: Annotated[str, typer.Option(help="Response type.")] = "application/json",
    engineer: EngineerOpt = None,
) -> None:
    """Send records to a lab's endpoint and print its predictions."""
    from labctl import orchestrator

    backend, endpoint = orchestrator.endpoint_of(lab, engineer=_engineer(engineer))
    try:
        body = sys.stdin.buffer.read() if data == "-" else Path(data).read_bytes()
    except OSError as exc:
        raise UsageError(f"--data {data}: {exc.strerror}") from None
    if not body.strip():
        raise UsageError("no records to send", hint="pass --data FILE or pipe records on stdin")
    ctype = content_type or (endpoint.attrs or {}).get("content_type", "text/csv")
    sys.stdout.write(backend.invoke(endpoint, body, ctype, accept).decode() + "\n")


@app.command()
def down(
    lab: Annotated[str | None, typer.Argument(help="The lab to tear down.")] = None,
    all_labs: Annotated[bool, typer.Option("--all", help="Every lab that is up.")] = False,
    target: TargetOpt = None,
    engineer: EngineerOpt = None,
    all_engineers: Annotated[
        bool, typer.Option("--all-engineers", help="Everyone's labs.")
    ] = False,
    endpoints_only: Annotated[
        bool, typer.Option("--endpoints-only", help="Only endpoints.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would go; do nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Tear down: endpoints first, then jobs, then `terraform destroy`."""
    if bool(lab) == all_labs:
        raise UsageError("name a lab or pass --all", hint="`labctl status` shows what is up")
    from labctl import orchestrator

    who = None if all_engineers else _engineer(engineer)
    items = orchestrator.teardown_plan(engineer=who, lab_name=lab, target=target,
                                       endpoints_only=endpoints_only)  # fmt: skip

    if not items:
        if as_json:
            _print_json({"status": "nothing-to-do", "items": []})
        else:
            err.print("nothing to tear down")
        return
    _teardown(items, yes=yes, dry_run=dry_run, as_json=as_json, endpoints_only=endpoints_only)


def _teardown(items: list[Any], *, yes: bool, dry_run: bool, as_json: bool,
              endpoints_only: bool) -> None:  # fmt: skip
    """List, confirm (default No), tear down, report: shared by `down` and `cost enforce`."""
    from labctl import orchestrator

    def listing() -> list[dict[str, Any]]:
        return [{"lab": i.run.lab, "engineer": i.run.engineer, "target": i.run.target,
                 "run": i.run.id, "kind": i.resource.kind, "name": i.resource.name,
                 "outcome": i.outcome, "error": i.error} for i in items]  # fmt: skip

    for row in listing():
        err.print(
            f"  {row['lab']} ({row['target']}, {row['engineer']}): {row['kind']} {row['name']}"
        )
    if dry_run:
        if as_json:
            _print_json({"status": "dry-run", "items": listing()})
        return
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("refusing to tear down without confirmation", hint="pass --yes")
        if not typer.confirm(f"Tear down these {len(items)} resource(s)?", default=False, err=True):
            raise typer.Exit(ExitCode.OK)
    try:
        orchestrator.down(items, reporter=_reporter(as_json), endpoints_only=endpoints_only)
    finally:
        if as_json:
            failed = any(i.outcome == "failed" for i in items)
            _print_json({"status": "partial" if failed else "ok", "items": listing()})
    if not as_json:
        out.print(f"[green]down[/]: {len(items)} resource(s) deleted")


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Check terraform, the ledger and each cloud's credentials; each line says what to do."""
    from labctl import doctor as doctor_mod

    checks = doctor_mod.run()
    if as_json:
        _print_json([c.to_dict() for c in checks])
    else:
        for c in checks:
            mark = (
                "[green]ok[/]  " if c.ok else ("[red]FAIL[/]" if c.required else "[yellow]warn[/]")
            )
            out.print(f"{mark} {c.area}: ", end="")
            out.print(c.detail, markup=False)
    if any(c.required and not c.ok for c in checks):
        raise typer.Exit(ExitCode.ERROR)


# --- prices -------------------------------------------------------------------------------------


@prices_app.command("show")
def prices_show(
    cloud: Annotated[str | None, typer.Option(help="aws, gcp or databricks.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The shipped price catalog, with each row's source and date."""
    from rich.table import Table

    from labctl.prices import PriceBook

    rows = PriceBook.load().rows(cloud)
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"{len(rows)} prices", title_justify="left")
    for col in ("cloud", "usage", "region", "instance_type", "usd_per_hour", "unit", "as_of"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("cloud", "usage", "region", "instance_type",
                                             "usd_per_hour", "unit", "as_of")))  # fmt: skip
    out.print(table)


@prices_app.command("refresh")
def prices_refresh() -> None:
    """Rebuild the AWS prices from the AWS Price List API (needs credentials); on failure the
    catalog in use is kept. The refreshed copy lives in $LABCTL_HOME/prices.csv."""
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
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV, one row per lab.")] = False,
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML page.")] = None,
) -> None:
    """Spend per engineer vs budget: spent, burn, forecast, percent and alert level."""
    from labctl import cost, reports
    from labctl.ledger import Ledger

    if month and not _is_month(month):
        raise UsageError(f"--month {month}: expected YYYY-MM")
    data = cost.report(Ledger(), _catalog(), month=month, engineer=engineer)
    if html:
        html.write_text(reports.html(data), encoding="utf-8")
        err.print(f"wrote {html}")
    if as_json:
        _print_json(data)
    elif as_csv:
        sys.stdout.write(reports.csv_text(data))
    elif not html:
        reports.print_report(out, data)


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
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read the bills; write nothing.")
    ] = False,
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
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would go.")] = False,
) -> None:
    """For cron: send due budget alerts, tear down what engineers at 100% of budget run, and
    endpoints past autostop."""
    from labctl import alerts, cost, orchestrator
    from labctl.ledger import Ledger

    if not dry_run:
        ledger, cat = Ledger(), _catalog()
        team = cost.team(cat)
        for d in alerts.deliver_report(ledger, team, cost.report(ledger, cat)):
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


# --- entry point --------------------------------------------------------------------------------


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Run the app; turn every error into one message and a meaningful exit code."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = app(standalone_mode=False)
    except LabctlError as exc:
        if _state["debug"]:
            err.print_exception()
        err.print("[red]error:[/] ", end="")
        err.print(exc.message, markup=False)
        if exc.hint:
            err.print("[dim]hint:[/] ", end="")
            err.print(exc.hint, markup=False)
        sys.exit(int(exc.exit_code))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    except typer.TyperException as exc:  # the parser's usage errors
        show = getattr(exc, "show", None)
        show() if show else err.print(exc.message, markup=False)
        sys.exit(ExitCode.USAGE if exc.exit_code == 2 else ExitCode.ERROR)
    except KeyboardInterrupt:
        err.print("\n[yellow]interrupted[/]: what was started is in the ledger; "
                  "`labctl status` shows it, `labctl down LAB` removes it")  # fmt: skip
        sys.exit(ExitCode.INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


# --- labctl sweep (labctl/commands/sweep.py registers its command on `app`) ---------------------
from labctl.commands import sweep as _sweep  # noqa: E402, F401
