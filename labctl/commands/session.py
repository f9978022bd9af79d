"""Session commands: `extend` (move a lab's deadline) and `start` (bring its endpoints back).

Registered on `labctl.cli.app` by the import at the end of labctl/cli.py; parse, call
labctl.session, print, like the rest of the CLI.
"""

from __future__ import annotations

from typing import Annotated

import typer

from labctl.cli import (
    AutostopOpt,
    EngineerOpt,
    JsonOpt,
    TargetOpt,
    _duration,
    _engineer,
    _print_json,
    _reporter,
    _resolve_lab,
    _state,
    _step_summary,
    app,
    out,
    warn_crossed,
)
from labctl.errors import UsageError

ForceOpt = Annotated[
    bool, typer.Option("--force", help="Go past the budget (recorded in the ledger).")
]


def _extra(text: str) -> int:
    """DURATION of `extend`: 2h, 30m, 1d... (positive, at most a year)."""
    from labctl.catalog import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"DURATION: {exc}", hint="e.g. `labctl extend LAB 2h`") from None
    if not 0 < seconds <= 366 * 86400:
        raise UsageError(f"DURATION {text}: between 1s and a year", hint="e.g. 2h")
    return seconds


@app.command()
def extend(
    lab: str,
    duration: Annotated[str, typer.Argument(help="How much later endpoints stop, e.g. 2h.")],
    target: TargetOpt = None,
    engineer: EngineerOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Move a lab's autostop deadline later (budget-checked); the cloud's schedule follows."""
    from labctl import session, views
    from labctl.ledger import iso_utc

    who = _engineer(engineer)
    _resolve_lab(lab, up_ok=True, engineer=who)
    seconds = _extra(duration)
    result = session.extend(lab, seconds, engineer=who, target=target,
                            catalog=_state["catalog"], reporter=_reporter(as_json),
                            force=force)  # fmt: skip
    if as_json:
        _print_json(result.to_dict())
        return
    warn_crossed(result.budget)
    out.print(f"[green]extended[/] {lab} on {result.run.target}: endpoints stop at "
              f"{iso_utc(result.run.autostop_at)} (was {iso_utc(result.before)}), "
              f"+{views.money(result.extra_usd)}", soft_wrap=True)  # fmt: skip
    out.print(views.budget_line(result.budget), soft_wrap=True)
    out.print(f"enforced by {result.enforced_by}", markup=False, soft_wrap=True)


@app.command()
def start(
    lab: str,
    target: TargetOpt = None,
    engineer: EngineerOpt = None,
    autostop: AutostopOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Bring back a lab's endpoints that autostop stopped, from its trained models (no
    retraining), inside the budget, with a new deadline."""
    from labctl import session, views
    from labctl.ledger import iso_utc

    who = _engineer(engineer)
    _resolve_lab(lab, up_ok=True, engineer=who)
    result = session.start(lab, engineer=who, target=target, catalog=_state["catalog"],
                           reporter=_reporter(as_json), autostop=_duration(autostop),
                           force=force)  # fmt: skip
    if as_json:
        _print_json(result.to_dict())
        return
    warn_crossed(result.budget)
    out.print(f"[green]started[/] {lab} on {result.run.target} (run {result.run.id})")
    for name, res in result.results.items():
        out.print(f"  {name}: ", end="")
        out.print(_step_summary(res), markup=False, soft_wrap=True)
    out.print(views.budget_line(result.budget), soft_wrap=True)
    d = result.deadline
    stop = f"endpoints stop at {iso_utc(d.at)}" if d.at else "no autostop: endpoints bill"
    out.print(f"{stop} ({d.source}); enforced by {result.enforced_by}", markup=False,
              soft_wrap=True)  # fmt: skip
