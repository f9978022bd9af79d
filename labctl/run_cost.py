"""What one run cost, as `down` reports it: the ledger's figure and, where synced, the bill's.

- `estimated_usd`: each resource's price at launch x its billed hours (the cost module's rule),
  the cloud-equivalent on the local target (which costs $0).
- `billed_usd`: what `labctl cost sync` read from the target's bill for the run's lab and
  engineer on the days the run spans, up to `billed_through`; None while no synced bill covers
  the run's first day. Design choice: bills are per day, engineer and lab (the tags), not per run,
  so two runs of one lab on the same day share that day's figure.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from labctl.ledger import BilledCost, BillingSync, Run

if TYPE_CHECKING:
    from labctl.ledger import Ledger


def of_run(ledger: Ledger, run: Run, now: datetime) -> dict[str, Any]:
    """One run's cost as plain data (for `down` and `cost enforce`, table and --json)."""
    resources = ledger.run_resources(run.id)
    estimated = sum(r.cost(now) or 0.0 for r in resources)
    end = run.ended_at or now
    billed, through = _billed(ledger, run, run.created_at.date(), end.date())
    unpriced = [r for r in resources if r.price_per_hour is None and r.instance_type]
    return {
        "run": run.id,
        "lab": run.lab,
        "engineer": run.engineer,
        "target": run.target,
        "hours": round(max((end - run.created_at).total_seconds(), 0) / 3600, 4),
        "planned_usd": run.estimate_usd,  # the estimate `up` checked against the budget
        "estimated_usd": round(estimated, 4),
        "cloud_equivalent": run.target == "local",
        "unpriced": [f"{r.kind} {r.name}" for r in unpriced],
        "billed_usd": None if billed is None else round(billed, 4),
        "billed_through": f"{through:%Y-%m-%d}" if through else None,
    }


def of_runs(ledger: Ledger, run_ids: list[str], now: datetime) -> list[dict[str, Any]]:
    """`of_run` for each run still in the ledger, in the order given (duplicates once)."""
    runs = [ledger.get_run(i) for i in dict.fromkeys(run_ids)]
    return [of_run(ledger, run, now) for run in runs if run is not None]


def _billed(ledger: Ledger, run: Run, first: date, last: date) -> tuple[float | None, date | None]:
    """The bill's USD for the run's lab over [first, last] as far as a sync covers, and the last
    day covered; (None, None) when no sync of the run's target covers `first`."""
    from sqlalchemy import func, select

    with ledger.session() as s:
        syncs = s.execute(
            select(BillingSync.covered_from, BillingSync.covered_until).where(
                BillingSync.target == run.target
            )
        ).all()
        if not any(lo <= first < hi for lo, hi in syncs):
            return None, None
        until = max(hi for lo, hi in syncs if hi > first)  # exclusive
        through = min(last, until - timedelta(days=1))
        b = BilledCost
        usd = s.execute(
            select(func.coalesce(func.sum(b.amount_usd), 0.0)).where(
                b.target == run.target,
                b.engineer == run.engineer,
                b.lab == run.lab,
                b.day >= first,
                b.day <= through,
            )
        ).scalar_one()
    return float(usd), through
