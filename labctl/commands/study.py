"""Study commands: progress, done, scaffold, exam record, reuse record, impact.

Registered on `labctl.cli.app` by the import at the end of labctl/cli.py; parse, call
labctl.study, print, like the rest of the CLI.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from labctl.cli import EngineerOpt, JsonOpt, _catalog, _engineer, _print_json, _state, app, err, out
from labctl.errors import UsageError

exam_app = typer.Typer(help="Certification exam results (for `labctl impact`).")
app.add_typer(exam_app, name="exam")
reuse_app = typer.Typer(help="Labs reused on client work (for `labctl impact`).")
app.add_typer(reuse_app, name="reuse")

MilestoneOpt = Annotated[int, typer.Option("--milestone", "-m", min=1, help="1-based, as shown.")]


def _date(text: str | None, option: str) -> date:
    from labctl.ledger import utcnow

    if text is None:
        return utcnow().date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text}: expected a date as YYYY-MM-DD") from None


@app.command()
def progress(
    engineer: EngineerOpt = None,
    all_engineers: Annotated[
        bool, typer.Option("--all-engineers", help="Everyone in the ledger.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Labs and milestones done, hours, exam-domain coverage and the best next milestone."""
    from labctl.ledger import Ledger
    from labctl.study import progress as prog

    if engineer and all_engineers:
        raise UsageError("pass --engineer or --all-engineers, not both")
    who = None if all_engineers else _engineer(engineer)
    entries = prog.report(Ledger(), _catalog(), engineer=who)
    if as_json:
        _print_json(entries)
        return
    if not entries:
        err.print("no runs or milestones in the ledger yet")
    for e in entries:
        _print_progress(e)


def _print_progress(e: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    out.print(
        f"[bold]{escape(e['engineer'])}[/]: {e['labs_done']} lab(s) and {e['milestones_done']} "
        f"milestone(s) done, {e['milestone_hours']:g} h of milestones, "
        f"{e['run_hours']:.1f} h of labs up"
    )
    if e["labs"]:
        labs = Table(title_justify="left")
        for col in ("lab", "milestones done", "by hand", "hours up"):
            labs.add_column(col)
        for lab in e["labs"]:
            done = ", ".join(map(str, lab["milestones_done"])) or "-"
            total = f" of {lab['milestones']}" if lab["milestones"] else ""
            labs.add_row(lab["lab"], done + total,
                         ", ".join(map(str, lab["marked_by_hand"])) or "-",
                         f"{lab['run_hours']:.1f}")  # fmt: skip
        out.print(labs)
    cov = Table(title="exam-domain coverage", title_justify="left")
    for col in ("certification", "weighted", "domains"):
        cov.add_column(col)
    for cert, c in e["coverage"].items():
        if c["weighted"] > 0:
            domains = ", ".join(f"{d} {v:.0%}" for d, v in c["domains"].items())
            cov.add_row(cert, f"{c['weighted']:.0%}", domains)
    if cov.row_count:
        out.print(cov)
    if e["next"]:
        n = e["next"]
        out.print(f"next: {n['command']}  ({n['title']}, {n['hours']:g} h, "
                  f"+{n['gain']:.0%} coverage)", markup=False)  # fmt: skip


@app.command()
def done(lab: str, milestone: MilestoneOpt, engineer: EngineerOpt = None) -> None:
    """Mark a milestone of a lab done by hand (work done outside `labctl up`)."""
    from labctl.ledger import Ledger
    from labctl.study import progress as prog

    who = _engineer(engineer)
    title = prog.mark_done(Ledger(), _catalog(), engineer=who, lab=lab, milestone=milestone)
    err.print(f"recorded: {who} did {lab} milestone {milestone} ({title})", markup=False)


@app.command()
def scaffold(
    lab: str,
    directory: Annotated[Path | None, typer.Argument(help="Default: ./LAB")] = None,
    engineer: EngineerOpt = None,
) -> None:
    """Write your project folder for a lab: README, entry points, Terraform, .gitignore.
    Never overwrites a file."""
    from labctl.ledger import utcnow
    from labctl.study.scaffold import scaffold as make

    folder = directory or Path(lab)
    result = make(_catalog(), lab, folder, engineer=_engineer(engineer),
                  today=utcnow().date(), catalog=_state["catalog"])  # fmt: skip
    for rel in result.written:
        out.print(f"wrote {folder / rel}", markup=False)
    if result.kept and not result.written:
        err.print(f"nothing to do: all {len(result.kept)} files of {folder} exist "
                  "(labctl never overwrites them)", markup=False)  # fmt: skip
    elif result.kept:
        err.print(f"kept {len(result.kept)} existing file(s) as they were", markup=False)


@exam_app.command("record")
def exam_record(
    cert: Annotated[str, typer.Option(help="Certification id, e.g. aws-mls (`labctl certs`).")],
    score: Annotated[float, typer.Option(help="The overall score, as the exam reports it.")],
    engineer: EngineerOpt = None,
    taken_on: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD (default: today).")
    ] = None,
    passed: Annotated[bool, typer.Option("--passed", help="The exam was passed.")] = False,
    domain: Annotated[
        list[str] | None,
        typer.Option("--domain", help="DOMAIN=SCORE, e.g. modeling=78; repeat per domain."),
    ] = None,
) -> None:
    """Record an exam result in the ledger."""
    from labctl.ledger import Ledger
    from labctl.study import impact

    who = _engineer(engineer)
    row = impact.record_exam(Ledger(), _catalog(), engineer=who, cert=cert,
                             taken_on=_date(taken_on, "--date"), score=score, passed=passed,
                             domains=domain or [])  # fmt: skip
    verdict = "passed" if row.passed else "not passed"
    err.print(f"recorded: {who} {cert} on {row.taken_on}: {row.score:g}, {verdict}", markup=False)


@reuse_app.command("record")
def reuse_record(
    lab: str,
    client: Annotated[str, typer.Option(help="The client (or a code name for it).")],
    engineer: EngineerOpt = None,
    used_on: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD (default: today).")
    ] = None,
    note: Annotated[str | None, typer.Option(help="What was reused.")] = None,
) -> None:
    """Record a lab's code or design reused on client work."""
    from labctl.ledger import Ledger
    from labctl.study import impact

    who = _engineer(engineer)
    row = impact.record_reuse(Ledger(), _catalog(), engineer=who, lab=lab, client=client,
                              used_on=_date(used_on, "--date"), note=note)  # fmt: skip
    err.print(f"recorded: {who} reused {lab} for {row.client} on {row.used_on}", markup=False)


@app.command()
def impact(
    as_json: JsonOpt = False,
    html: Annotated[
        Path | None,
        typer.Option(help="Write the team page (spend, progress and impact) to this file."),
    ] = None,
) -> None:
    """Exam pass rates and scores with and without labs, domain scores against lab coverage,
    days from first lab to exam, and labs reused on client work."""
    from labctl import cost, reports, spend_report
    from labctl.ledger import Ledger
    from labctl.study import impact as impact_mod
    from labctl.study import page
    from labctl.study import progress as prog

    if as_json and html:
        raise UsageError("pass --json or --html, not both")
    ledger, cat = Ledger(), _catalog()
    data = impact_mod.report(ledger, cat)
    if html:
        spend = reports.html(spend_report.report(ledger, cat), cost.team(cat))
        team = page.team_page(spend, prog.report(ledger, cat, engineer=None), data)
        html.write_text(team, encoding="utf-8")
        err.print(f"wrote {html}", markup=False)
    elif as_json:
        _print_json(data)
    else:
        _print_impact(data)


def _print_impact(data: dict[str, Any]) -> None:
    def fig(group: dict[str, Any], key: str, fmt: str) -> str:
        value = group[key]
        return format(value, fmt) if value is not None else group.get("note", "n/a")

    if not data["certifications"]:
        err.print("no exam results yet: `labctl exam record` adds them")
    for cert, c in data["certifications"].items():
        out.print(f"{c['title']} ({cert}): {c['engineers']} engineer(s)", markup=False)
        for label in ("with_labs", "without_labs"):
            g = c[label]
            out.print(f"  {label.replace('_', ' ')}: {g['engineers']}, pass rate "
                      f"{fig(g, 'pass_rate', '.0%')}, mean score {fig(g, 'mean_score', '.1f')}",
                      markup=False)  # fmt: skip
        for d, v in c["domains"].items():
            yes, no = v["covered_by_labs"], v["not_covered"]
            if yes["n"] or no["n"]:
                out.print(f"  {d}: covered by labs {fig(yes, 'mean_score', '.1f')} "
                          f"(n={yes['n']}), not covered {fig(no, 'mean_score', '.1f')} "
                          f"(n={no['n']})", markup=False)  # fmt: skip
        days = c["days_first_lab_to_exam"]
        out.print(f"  median days from first lab to exam: {fig(days, 'median', '.1f')}",
                  markup=False)  # fmt: skip
    for r in data["reuse"]["labs"]:
        out.print(f"reused: {r['lab']} {r['uses']}x for {', '.join(r['clients'])}; median days "
                  f"to first use {fig(r['days_to_first_use'], 'median', '.1f')}",
                  markup=False)  # fmt: skip
