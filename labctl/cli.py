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
    add_completion=True,
)

# through a pipe nothing is hard-wrapped at rich's assumed 80 columns (tables print plain there)
out = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
err = Console(stderr=True, highlight=False, soft_wrap=True)
_state: dict[str, Any] = {"catalog": None, "debug": False}


def flag(*decls: str, help: str) -> Any:
    """An on/off option (no `--no-x` twin)."""
    return typer.Option(*decls, help=help)


def _flags_without_type(original: Any) -> Any:
    """Help lists `--json` and `--help`, not `--json <bool>`: flags take no value to type."""

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else original(self, ctx)

    return display_type_rich


typer.core.TyperOption.display_type_rich = _flags_without_type(  # type: ignore[method-assign]
    typer.core.TyperOption.display_type_rich
)


JsonOpt = Annotated[bool, flag("--json", help="Print JSON for scripts.")]
CsvOpt = Annotated[bool, flag("--csv", help="Print CSV for spreadsheets.")]
NoHeadersOpt = Annotated[bool, flag("--no-headers", help="Leave out the header line.")]
TargetOpt = Annotated[
    str | None,
    typer.Option("--target", "-t", help="local, aws, gcp, databricks or native (the lab's cloud)."),
]
AutostopOpt = Annotated[
    str | None,
    typer.Option(help="Endpoints stop after e.g. 2h, or none (default: the team's session)."),
]
EngineerOpt = Annotated[
    str | None,
    typer.Option(help="Whose lab (default: LABCTL_ENGINEER, git user.email, OS user)."),
]


def _resolve_lab(name: str, *, up_ok: bool = False, engineer: str | None = None) -> str:
    """The one check of a lab name on the command line: unknown is a UsageError (exit 2) with the
    closest names. `up_ok`: a lab that is up in the ledger is accepted even when the catalog no
    longer has it, and the error names the labs that are up (`down churn` while
    churn-pipeline bills)."""
    from labctl import listing
    from labctl.errors import UnknownLab, did_you_mean

    names = [r["name"] for r in listing.index(_state["catalog"])["labs"]]
    if name in names:
        return name
    running: list[str] = []
    if up_ok:
        from labctl.ledger import Ledger

        running = sorted({r.lab for r in Ledger().active_runs(engineer=engineer)})
        if name in running:
            return name
    similar = [n for n in (*running, *names) if name in n]
    suggestion = did_you_mean(name, dict.fromkeys([*running, *names])) or (
        " (did you mean " + " or ".join(f"'{n}'" for n in dict.fromkeys(similar[:3])) + "?)"
        if similar else ""
    )  # fmt: skip
    close_up = [n for n in running if n in suggestion]
    hint = (
        f"{', '.join(close_up)} is up: `labctl down {close_up[0]}` tears it down"
        if close_up
        else "`labctl status` shows what is up"
        if up_ok
        else "`labctl list` shows every lab"
    )
    raise UnknownLab(f"no lab named '{name}'{suggestion}", hint=hint)


def _check_choice(
    option: str, value: str | None, choices: list[str], hint: str | None = None
) -> None:
    """A filter value must be one the catalog has: else exit 2 naming the valid ones."""
    from labctl.errors import did_you_mean

    if value is not None and value not in choices:
        raise UsageError(f"{option} {value}: no such value{did_you_mean(value, choices)}",
                         hint=hint or f"values: {', '.join(choices)}")  # fmt: skip


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


def warn_crossed(check: Any) -> None:
    """A warning per alert threshold a budget check's estimate crosses (up, extend, start)."""
    for threshold in check.crossed:
        err.print(f"[yellow]warning:[/] this takes {check.engineer} past {threshold}% of the "
                  "budget")  # fmt: skip


def _version(value: bool) -> None:
    if value:
        from labctl import __version__

        sys.stdout.write(f"labctl {__version__}\n")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _main(
    catalog: Annotated[
        str | None,
        typer.Option("--catalog", envvar="LABCTL_CATALOG", help="The catalog file (labs.yaml)."),
    ] = None,
    debug: Annotated[bool, flag("--debug", help="Show tracebacks.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print labctl's version.",
            is_eager=True,
            callback=_version,
        ),
    ] = False,
) -> None:
    _state.update(catalog=catalog, debug=debug)


# --- the catalog -----------------------------------------------------------------------------


@app.command("list")
def list_labs(
    cert: Annotated[str | None, typer.Option(help="Only labs for this certification.")] = None,
    cloud: Annotated[
        str | None, typer.Option(help="Only labs native to aws, gcp or databricks.")
    ] = None,
    domain: Annotated[
        str | None, typer.Option(help="Only labs covering this domain (id, with or without cert/).")
    ] = None,
    wide: Annotated[bool, flag("--wide", "-w", help="Add title, steps and domains.")] = False,
    no_headers: NoHeadersOpt = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """List the labs: cloud, certifications, hours, runs locally, $ per study session.

    The cost is one study session on the lab's own cloud; `--wide` adds the title, steps and
    exam domains."""
    from labctl import listing, views

    index = listing.index(_state["catalog"])
    labs = index["labs"]
    _check_choice("--cert", cert, index["certifications"])
    _check_choice("--cloud", cloud, sorted({r["cloud"] for r in labs}))
    domains = sorted({d for r in labs for d in r["domains"]})
    if domain is not None and domain not in domains:
        short = {d.split("/", 1)[1] for d in domains}
        _check_choice("--domain", domain, sorted({*domains, *short}),
                      hint="`labctl certs` lists each certification's domains")  # fmt: skip
    rows = [
        row
        for row in labs
        if (not cert or cert in row["certs"])
        and (not cloud or row["cloud"] == cloud)
        and (not domain or any(d == domain or d.endswith("/" + domain) for d in row["domains"]))
    ]
    if as_json:
        _print_json(rows)
    elif as_csv:
        columns = ["name", "title", "cloud", "certs", "hours_min", "hours_max", "runs_locally",
                   "session_usd", "steps", "domains"]  # fmt: skip
        flat = [{**r, "hours_min": r["hours"]["min"], "hours_max": r["hours"]["max"]} for r in rows]
        sys.stdout.write(views.csv_text(columns, flat))
    else:
        views.print_labs(out, rows, wide=wide, headers=not no_headers)


@app.command()
def show(lab: str, as_json: JsonOpt = False) -> None:
    """What a lab builds: architecture, domains, services, milestones and steps."""
    from labctl.views import show_lab

    _resolve_lab(lab)
    cat = _catalog()
    item = cat.lab(lab)
    if as_json:
        _print_json({"name": lab, **item.model_dump(mode="json")})
    else:
        show_lab(out, lab, item, cat)


@app.command()
def certs(no_headers: NoHeadersOpt = False, as_json: JsonOpt = False) -> None:
    """Certifications, their exam domains and weights, and which labs cover each domain."""
    from labctl.views import certs_view, print_certs

    view = certs_view(_catalog())
    if as_json:
        _print_json(view)
    else:
        print_certs(out, view, headers=not no_headers)


@app.command()
def validate(
    file: Annotated[Path | None, typer.Argument(help="Default: the catalog in use.")] = None,
) -> None:
    """Check a catalog; exit 0 when it is valid, 1 with file:line errors when not."""
    from labctl import catalog

    path = catalog.catalog_path(file or _state["catalog"])
    cat = catalog.validate_file(path)  # the team section and $LABCTL_TEAM too
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

    _resolve_lab(lab)
    path = orchestrator.render(lab, target=target, engineer=_engineer(engineer), out=out_dir,
                               catalog=_state["catalog"])  # fmt: skip
    err.print(f"wrote {path} and {path.parent / 'modules'}")


@app.command()
def plan(
    lab: str,
    target: TargetOpt = None,
    engineer: EngineerOpt = None,
    autostop: AutostopOpt = None,
    no_terraform: Annotated[
        bool, flag("--no-terraform", help="Render and estimate only; skip `terraform plan`.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Pre-flight for `up`: estimate, budget, findings and `terraform plan`; changes nothing.

    Exit 0: `up` would run within budget; 3: `up` would be refused (the hint says what would
    fit); 1: terraform could not plan."""
    from labctl import orchestrator, views

    _resolve_lab(lab)
    result = orchestrator.plan(lab, target=target, engineer=_engineer(engineer),
                               catalog=_state["catalog"], reporter=_reporter(as_json),
                               autostop=_duration(autostop),
                               run_terraform=not no_terraform)  # fmt: skip
    fatal = [f for f in result.findings if f.fatal]
    refusal = _plan_refusal(result, fatal)
    if as_json:
        _print_json({
            "lab": result.lab, "target": result.target, "engineer": result.engineer,
            "module": str(result.directory), "estimate": result.estimate.to_dict(),
            "budget": {"budget_usd": result.budget.budget_usd, "spent_usd": result.budget.spent_usd,
                       "after_usd": result.budget.after_usd, "over": result.budget.over},
            "findings": [vars(f) for f in result.findings], "changes": result.changes,
            "terraform": "skipped" if no_terraform else "failed" if result.terraform_error
            else "planned",
            "terraform_error": result.terraform_error,
            "verdict": "refused" if refusal else "error" if result.terraform_error else "ok",
            "refused": refusal.to_dict() if refusal else None,
        })  # fmt: skip
    else:
        out.print(f"[bold]{escape(result.lab)}[/] on [bold]{result.target}[/], rendered in ",
                  end="")  # fmt: skip
        out.print(str(result.directory), markup=False, soft_wrap=True)
        views.print_estimate(out, result.estimate)
        out.print(views.budget_line(result.budget), soft_wrap=True)
        for f in result.findings:
            colour = "red" if f.fatal else "yellow"
            where = f" step '{f.step}'" if f.step else ""
            out.print(f"[{colour}]{'refuses' if f.fatal else 'note'}[/]{escape(where)}: ", end="")
            out.print(f.reason, markup=False, soft_wrap=True)
        if no_terraform:
            out.print("terraform plan: skipped (--no-terraform)")
        elif result.terraform_error:
            out.print("[red]terraform plan failed:[/] ", end="")
            out.print(result.terraform_error, markup=False, soft_wrap=True)
        else:
            out.print(f"terraform plan: {len(result.changes)} change(s)")
            for c in result.changes:
                out.print(f"  {'/'.join(c['actions'])} {c['address']}", markup=False,
                          soft_wrap=True)  # fmt: skip
    if refusal:
        raise refusal
    if result.terraform_error:
        raise typer.Exit(ExitCode.ERROR)
    if not as_json:
        out.print(f"[green]ok[/]: `labctl up {escape(lab)}` would run within budget")


def _plan_refusal(result: Any, fatal: list[Any]) -> LabctlError | None:
    """Why `up` would refuse what `plan` saw (a fatal finding, the budget), with what would fit."""
    from labctl.errors import BudgetRefused, Unsupported
    from labctl.views import money

    lab, target = result.lab, result.target
    if fatal:
        native = _catalog().lab(lab).cloud
        fits = [f"--target {t}" for t in dict.fromkeys((native, "local")) if t != target]
        return Unsupported(
            f"`up` would refuse: the {target} target cannot run lab '{lab}' "
            f"({len(fatal)} finding(s) above)",
            hint=f"try `labctl plan {lab} {fits[0]}`" if fits else None,
        )
    b = result.budget
    if not b.over:
        return None
    hint = _fitting_autostop(result)
    fits = (f"`labctl plan {lab} --target {target} --autostop {hint}` fits the budget" if hint
            else "nothing on this target fits the rest of the budget")  # fmt: skip
    return BudgetRefused(
        f"`up` would refuse: {b.engineer} would reach {money(b.after_usd)} of the "
        f"{money(b.budget_usd)} budget",
        hint=f"{fits}; `--target local` costs $0; `labctl status` shows what you can tear down",
    )


def _fitting_autostop(result: Any) -> str | None:
    """The longest --autostop (whole minutes) that keeps the run within budget, from the plan's
    estimate: the endpoints bill per hour, everything else is fixed."""
    from labctl import cost

    e, b = result.estimate, result.budget
    burn = cost.endpoint_burn(e)
    fixed = sum(line.usd or 0 for line in e.lines if line.kind != "deploy")
    room = b.budget_usd - b.spent_usd - b.reserved_usd - fixed
    if burn <= 0 or room <= 0:
        return None
    minutes = int(room / burn * 60)
    if minutes < 1:
        return None
    hours, mins = divmod(minutes, 60)
    days, hours = divmod(hours, 24) if hours >= 48 else (0, hours)
    text = (f"{days}d" if days else "") + (f"{hours}h" if hours else "")
    return text + (f"{mins}m" if mins or not text else "")


def _duration(text: str | None) -> Any:
    """--autostop as labctl.autostop takes it: seconds, NONE (`none`), or None (not given)."""
    from labctl.autostop import NONE
    from labctl.catalog import parse_duration

    if text is None:
        return None
    if text.lower() in ("none", "off", "never"):
        return NONE
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--autostop: {exc}") from None
    if seconds > 366 * 86400:
        raise UsageError(f"--autostop {text}: more than a year", hint="e.g. 4h or 2d")
    return seconds


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
        bool, flag("--force", help="Go past the budget (recorded in the ledger).")
    ] = False,
    autostop: AutostopOpt = None,
    milestone: Annotated[
        int | None, typer.Option(min=1, help="Only the steps of milestones 1..N.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Provision a lab with Terraform and run its steps: data, train, tune, deploy..."""
    from labctl import config, orchestrator, paths, views
    from labctl.ledger import iso_utc
    from labctl.progress import log_to

    _resolve_lab(lab)
    who = _engineer(engineer)
    native = _catalog().lab(lab).cloud
    log = paths.workspace(who, lab, config.resolve_target(target, native)) / "labctl.log"
    with log_to(log):  # MLflow, py4j, Optuna... log there, not between the progress lines
        result = orchestrator.up(lab, target=target, engineer=who, catalog=_state["catalog"],
                                 reporter=_reporter(as_json), rows=rows, max_jobs=trials,
                                 force=force, autostop=_duration(autostop),
                                 milestone=milestone)  # fmt: skip
    if as_json:
        _print_json({"run": result.run.id, "lab": lab, "engineer": who, "target": result.run.target,
                     "estimate_usd": result.estimate.total_usd, "steps": result.results,
                     "milestone": milestone, "warnings": result.warnings,
                     "autostop_at": iso_utc(result.run.autostop_at),
                     "autostop": result.estimate.deadline.source})  # fmt: skip
        return
    warn_crossed(result.budget)
    span = f", milestones 1-{milestone}" if milestone else ""
    out.print(f"[green]up[/] {lab} on {result.run.target} (run {result.run.id}{span})")
    for name, res in result.results.items():
        out.print(f"  {name}: ", end="")
        out.print(_step_summary(res), markup=False, soft_wrap=True)
    out.print(views.budget_line(result.budget), soft_wrap=True)
    serves = any(line.kind == "deploy" for line in result.estimate.lines)
    if serves and result.run.autostop_at:  # the deadline the estimate assumed (issue 13)
        enforcer = "`labctl cost enforce`" if result.run.target == "local" else "the cloud"
        out.print(f"endpoints stop at {iso_utc(result.run.autostop_at)} "
                  f"({result.estimate.deadline.source}; {enforcer} stops them; "
                  f"`labctl extend {lab} 2h` moves it)", markup=False)  # fmt: skip
    elif serves:
        out.print(f"no autostop ({result.estimate.deadline.source}): endpoints bill until "
                  f"`labctl down {lab}`", markup=False)  # fmt: skip
    out.print(f"`labctl status` shows it; `labctl down {lab}` tears it down; libraries' logs: ",
              end="")  # fmt: skip
    out.print(str(log), markup=False, soft_wrap=True)


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
    all_engineers: Annotated[bool, flag("--all-engineers", help="Everyone's runs.")] = False,
    no_headers: NoHeadersOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """What is up, for whom, and what it burns per hour."""
    from labctl import status as status_view
    from labctl import views

    runs = status_view.runs(engineer=None if all_engineers else _engineer(engineer))
    if as_json:
        _print_json(runs)
    elif runs:
        views.print_status(out, runs, headers=not no_headers)
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

    who = _engineer(engineer)
    _resolve_lab(lab, up_ok=True, engineer=who)
    backend, endpoint = orchestrator.endpoint_of(lab, engineer=who)
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
    all_labs: Annotated[bool, flag("--all", help="Every lab that is up.")] = False,
    target: TargetOpt = None,
    engineer: EngineerOpt = None,
    all_engineers: Annotated[bool, flag("--all-engineers", help="Everyone's labs.")] = False,
    endpoints_only: Annotated[bool, flag("--endpoints-only", help="Only endpoints.")] = False,
    yes: Annotated[bool, flag("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, flag("--dry-run", help="List what would go; do nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Tear down: endpoints first, then jobs, then `terraform destroy`."""
    if bool(lab) == all_labs:
        raise UsageError("name a lab or pass --all", hint="`labctl status` shows what is up")
    from labctl import orchestrator

    who = None if all_engineers else _engineer(engineer)
    if target is not None:
        from labctl.config import TARGETS

        _check_choice("--target", target, list(TARGETS))
    if lab:
        _resolve_lab(lab, up_ok=True, engineer=who)
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
            err.print("nothing destroyed")
            raise typer.Exit(ExitCode.ERROR)
    try:
        orchestrator.down(items, reporter=_reporter(as_json), endpoints_only=endpoints_only)
    finally:
        if as_json:
            failed = any(i.outcome == "failed" for i in items)
            _print_json({"status": "partial" if failed else "ok", "items": listing(),
                         "runs": _run_costs(items)})  # fmt: skip
    if not as_json:
        out.print(f"[green]down[/]: {len(items)} resource(s) deleted")
        from labctl.views import print_run_costs

        print_run_costs(out, _run_costs(items))


def _run_costs(items: list[Any]) -> list[dict[str, Any]]:
    """What each run `down` touched cost so far (labctl.run_cost)."""
    from labctl import run_cost
    from labctl.ledger import Ledger, utcnow

    return run_cost.of_runs(Ledger(), [i.run.id for i in items], utcnow())


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
            out.print(c.detail, markup=False, soft_wrap=True)
    if any(c.required and not c.ok for c in checks):
        raise typer.Exit(ExitCode.ERROR)


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


# --- commands in their own modules register themselves on `app` (labctl/commands/) -------------
from labctl.commands import budget as _budget  # noqa: E402, F401
from labctl.commands import session as _session  # noqa: E402, F401
from labctl.commands import spend as _spend  # noqa: E402, F401
from labctl.commands import study as _study  # noqa: E402, F401
from labctl.commands import sweep as _sweep  # noqa: E402, F401
