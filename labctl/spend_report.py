"""The month's spend per engineer: the `cost report`, and the figure the budget check uses.

Billed actuals (`labctl cost sync`) for the days each target's bill covers, the ledger's
estimates (`labctl.ledger_queries`) from where that coverage ends; the money rules are stated once
in `labctl.cost`'s docstring.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from labctl import ledger_queries as queries
from labctl.cost import month_bounds, over_budget, team
from labctl.ledger_queries import utcnow

if TYPE_CHECKING:
    from labctl.catalog import Catalog
    from labctl.ledger_queries import Reader

LEVELS = ("ok", "50", "75", "100")


def level(percent: float) -> str:
    """The report's level (one of LEVELS): the fixed 50/75/100 band reached, whatever the
    team's alert thresholds; "100" means over budget."""
    return next((lv for lv in reversed(LEVELS[1:]) if percent >= int(lv)), "ok")


def spent_this_month(ledger: Reader, engineer: str, now: datetime | None = None) -> float:
    """Month-to-date spend: billed actuals for the days the bills cover, estimates after."""
    now = now or utcnow()
    start, end = month_bounds(now=now)
    people, _, _ = _spend(ledger, start, end, now, engineer=engineer)
    return round(people[engineer]["spent_usd"], 4) if engineer in people else 0.0


def _blank(engineer: str) -> dict[str, Any]:
    return {"engineer": engineer, "spent_usd": 0.0, "spent_actual_usd": 0.0,
            "spent_estimated_usd": 0.0, "closed_usd": 0.0, "running_usd": 0.0,
            "burn_usd_per_hour": 0.0, "local_equivalent_usd": 0.0, "unpriced": 0,
            "by_lab": {}}  # fmt: skip


def _spend(
    ledger: Reader, start: datetime, end: datetime, now: datetime, engineer: str | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, datetime], bool]:
    """Per engineer, the month's spend: billed actuals (`labctl cost sync`) for the days each
    target's bill covers, plus the ledger's estimates from where that coverage ends.

    Returns the engineers' figures, the coverage per target, and whether `now` is in the month.
    The one place both the report and the budget check get their numbers from.
    """
    current = start <= now < end
    covered = {t: until for t, until in queries.coverage(ledger, start).items() if until > start}
    people: dict[str, dict[str, Any]] = {}

    def lab_of(p: dict[str, Any], lab: str, target: str) -> dict[str, Any]:
        return p["by_lab"].setdefault((lab, target), {
            "lab": lab, "target": target, "resources": 0, "spent_usd": 0.0,
            "spent_actual_usd": 0.0,
            "cloud_equivalent_usd": 0.0 if target == "local" else None,
        })  # fmt: skip

    # one query per distinct coverage end (usually one or two), each row kept for its target's
    for lo in sorted({start, *covered.values()}):
        for row in queries.spend_rows(ledger, min(lo, end), end, now, engineer):
            if covered.get(row.target, start) != lo:
                continue
            p = people.setdefault(row.engineer, _blank(row.engineer))
            estimated = (row.closed or 0) + (row.running or 0)
            lab = lab_of(p, row.lab, row.target)
            lab["resources"] += row.resources
            if row.target == "local":
                lab["cloud_equivalent_usd"] += estimated
                p["local_equivalent_usd"] += estimated
                continue
            lab["spent_usd"] += estimated
            p["closed_usd"] += row.closed or 0
            p["running_usd"] += row.running or 0
            p["burn_usd_per_hour"] += (row.burn or 0) if current else 0
            p["unpriced"] += row.unpriced or 0
    for row in queries.billed_totals(ledger, start, end, engineer) if covered else ():
        p = people.setdefault(row.engineer, _blank(row.engineer))
        lab = lab_of(p, row.lab, row.target)
        lab["spent_usd"] += row.usd or 0
        lab["spent_actual_usd"] += row.usd or 0
        p["spent_actual_usd"] += row.usd or 0
    for p in people.values():
        p["spent_estimated_usd"] = p["closed_usd"] + p["running_usd"]
        p["spent_usd"] = p["spent_actual_usd"] + p["spent_estimated_usd"]
    return people, covered, current


def report(
    ledger: Reader, cat: Catalog | None, *, month: str | None = None,
    engineer: str | None = None, now: datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Spend per engineer against the budget for a month, with a per-lab breakdown.

    `spent_usd` = `spent_actual_usd` (the bills, for the days up to `billed_through`) +
    `spent_estimated_usd` (the ledger, `closed_usd` + `running_usd`, for the days after).
    """
    now = now or utcnow()
    start, end = month_bounds(month, now)
    t = team(cat)
    people, covered, current = _spend(ledger, start, end, now, engineer)
    hours_left = max((end - now).total_seconds(), 0) / 3600 if current else 0.0
    if engineer and engineer not in people:
        people[engineer] = _blank(engineer)
    entries = []
    unpriced = 0
    for name in sorted(people):
        p = people[name]
        unpriced += p.pop("unpriced")
        labs = [
            {k: round(v, 4) if isinstance(v, float) else v for k, v in lab.items()}
            for _, lab in sorted(p.pop("by_lab").items())
        ]
        budget = t.budget_for(name)
        percent = p["spent_usd"] / budget * 100
        crossed = [th for th in t.alert_thresholds if percent >= th]
        entries.append({
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in p.items()},
            "labs": labs,
            "budget_usd": budget,
            "forecast_usd": round(p["spent_usd"] + p["burn_usd_per_hour"] * hours_left, 4),
            "percent": round(percent, 2),
            "level": "100" if over_budget(p["spent_usd"], budget) else level(percent),
            "over_budget": over_budget(p["spent_usd"], budget),
            "crossed": crossed,
        })  # fmt: skip
    return {
        "month": f"{start:%Y-%m}",
        "engineers": entries,
        "total_budget_usd": round(sum(e["budget_usd"] for e in entries), 4),
        "total_spent_usd": round(sum(e["spent_usd"] for e in entries), 4),
        "total_spent_actual_usd": round(sum(e["spent_actual_usd"] for e in entries), 4),
        "billed_through": {
            t: f"{until - timedelta(days=1):%Y-%m-%d}" for t, until in sorted(covered.items())
        },
        "unpriced_resources": unpriced,
        "unpriced": queries.unpriced(ledger, start, end, engineer) if unpriced else [],
    }
