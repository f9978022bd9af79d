"""Billed actuals: what each cloud's bill says an engineer spent, per day and lab.

`labctl cost sync` asks each target's billing backend (labctl/backends/*_billing.py, imported
only here and only when syncing) for the days the bill covers, then replaces that target's rows
for the month in one transaction, so a re-sync is idempotent. The cost report and the budget
check then use these figures for the covered days and the ledger's estimates for the days after.

Design choices, stated once:
- A bill covers the complete UTC days before today minus `team.billing.settle_days` (default 1):
  the clouds keep adding late usage to yesterday, so yesterday and today stay estimated.
- Figures are usage cost before credits (AWS: UnblendedCost without Credit/Refund records; GCP:
  `cost`; Databricks: DBUs at list price), the same basis as the ledger's estimates.
- Bills carry tag values (`ana-example-com`, see labctl.naming); they are mapped back to the
  ledger's engineers and labs, and kept as they are when nobody in the ledger matches.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from labctl.errors import LabctlError, MissingExtra, UsageError
from labctl.ledger import BilledCost, BillingSync, Run, utcnow

if TYPE_CHECKING:
    from labctl.cost import Team
    from labctl.ledger import Ledger

BILLED_TARGETS = ("aws", "gcp", "databricks")
SDK_MODULE = {"aws": "boto3", "gcp": "google.cloud.bigquery", "databricks": "databricks.sdk"}


@dataclass(frozen=True)
class BilledRecord:
    """One line a billing backend returns: a day's cost for one engineer tag and lab tag."""

    day: date
    engineer_tag: str
    lab_tag: str  # '' when the bill has no lab tag
    amount: float  # in `currency`
    currency: str
    amount_usd: float | None  # None when the bill gives no way to convert to USD
    source: str


@dataclass
class SyncResult:
    target: str
    month: str
    covered_from: date
    covered_until: date  # exclusive
    status: str = "ok"  # ok | dry-run | error | nothing-to-sync
    source: str = ""
    rows: int = 0
    total_usd: float = 0.0
    by_engineer: dict[str, float] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)  # --dry-run only
    error: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            **vars(self),
            "covered_from": self.covered_from.isoformat(),
            "billed_through": (self.covered_until - timedelta(days=1)).isoformat(),
        }
        del data["covered_until"]
        return data


def covered_until(month_start: date, month_end: date, today: date, settle_days: int) -> date:
    """The first day of the month a bill does not cover yet (exclusive end of the covered days)."""
    return max(month_start, min(month_end, today - timedelta(days=settle_days)))


def fetch(target: str, start: date, end: date, team: Team) -> list[BilledRecord]:
    """The target's bill for [start, end), through its billing backend (imported only now)."""
    billing = team.billing
    kwargs: dict[str, Any] = {}
    if target == "gcp":
        if not billing.gcp_export_table:
            raise UsageError(
                "gcp: no BigQuery billing export table configured",
                hint="add `billing: {gcp_export_table: PROJECT.DATASET.gcp_billing_export_v1_...}`"
                " to the team section (labs.yaml `team:` or $LABCTL_TEAM)",
            )
        kwargs = {"table": billing.gcp_export_table, "project": billing.gcp_project}
    elif target == "databricks":
        if not billing.databricks_warehouse_id:
            raise UsageError(
                "databricks: no SQL warehouse configured to query system.billing.usage",
                hint="add `billing: {databricks_warehouse_id: ...}` to the team section "
                "(labs.yaml `team:` or $LABCTL_TEAM)",
            )
        kwargs = {"warehouse_id": billing.databricks_warehouse_id}
    try:
        module = f"labctl.backends.{target}.billing"  # one package per cloud
        backend = importlib.import_module(module)
    except ImportError as exc:
        if (exc.name or "").startswith("labctl"):
            raise
        raise MissingExtra(target, exc.name or SDK_MODULE[target]) from None
    return backend.billed_costs(start, end, **kwargs)


def sync(
    ledger: Ledger, team: Team, *, month: str | None = None, targets: list[str] | None = None,
    dry_run: bool = False, now: datetime | None = None,
) -> list[SyncResult]:  # fmt: skip
    """Replace each target's billed actuals for `month` with what its bill says now.

    Without `targets`: every cloud target the ledger has runs on that month. A target that fails
    (missing settings, credentials, an API error) is reported in its result; the others go on.
    """
    from labctl.cost import month_bounds

    now = now or utcnow()
    lo, hi = month_bounds(month, now)
    start, end = lo.date(), hi.date()
    label = f"{lo:%Y-%m}"
    until = covered_until(start, end, now.date(), team.billing.settle_days)
    if targets is None:
        targets = _targets_with_runs(ledger, lo, hi)
    results = []
    for target in targets:
        result = SyncResult(target, label, start, until)
        results.append(result)
        if until <= start:
            result.status = "nothing-to-sync"
            result.hint = f"the bill covers no complete day of {label} yet"
            continue
        try:
            records = fetch(target, start, until, team)
        except LabctlError as exc:
            result.status, result.error, result.hint = "error", exc.message, exc.hint
            continue
        rows = _resolve(ledger, team, target, records, start, until)
        unconverted = sorted({r["currency"] for r in rows if r["amount_usd"] is None})
        if unconverted:
            result.status = "error"
            result.error = f"{target}: the bill is in {', '.join(unconverted)}, not USD"
            result.hint = "budgets are in USD; labctl needs the bill's USD figures"
            continue
        result.source = rows[0]["source"] if rows else _source_hint(target, team)
        result.rows = len(rows)
        result.total_usd = round(sum(r["amount_usd"] for r in rows), 4)
        per: dict[str, float] = defaultdict(float)
        for r in rows:
            per[r["engineer"]] += r["amount_usd"]
        result.by_engineer = {k: round(v, 4) for k, v in sorted(per.items())}
        if dry_run:
            result.status = "dry-run"
            result.records = [{**r, "day": r["day"].isoformat()} for r in rows]
            continue
        _replace(ledger, result, rows, now)
    return results


def _source_hint(target: str, team: Team) -> str:
    return {
        "aws": "aws-ce:UnblendedCost",
        "gcp": f"gcp-bq:{team.billing.gcp_export_table}",
        "databricks": "databricks:system.billing.usage",
    }[target]


def _targets_with_runs(ledger: Ledger, lo: datetime, hi: datetime) -> list[str]:
    from sqlalchemy import or_, select

    q = (
        select(Run.target)
        .distinct()
        .where(
            Run.target.in_(BILLED_TARGETS),
            Run.created_at < hi,
            or_(Run.ended_at.is_(None), Run.ended_at >= lo),
        )
    )
    with ledger.session() as s:
        found = set(s.scalars(q))
    return [t for t in BILLED_TARGETS if t in found]


def _resolve(
    ledger: Ledger, team: Team, target: str, records: list[BilledRecord], start: date, end: date
) -> list[dict[str, Any]]:
    """Sum records per (day, engineer tag, lab tag) inside [start, end) and name them as the
    ledger does; a tag value two names share (or nobody has) stays as the bill has it."""
    from sqlalchemy import select

    from labctl.naming import label_value

    with ledger.session() as s:
        engineers = set(s.scalars(select(Run.engineer).distinct())) | set(team.engineers)
        labs = set(s.scalars(select(Run.lab).distinct()))

    def names(values: set[str]) -> dict[str, str]:
        by_tag: dict[str, set[str]] = defaultdict(set)
        for v in values:
            by_tag[label_value(v)].add(v)
        return {tag: next(iter(vs)) for tag, vs in by_tag.items() if len(vs) == 1}

    who, what = names(engineers), names(labs)
    sums: dict[tuple[date, str, str], dict[str, Any]] = {}
    for rec in records:
        if not (start <= rec.day < end) or not rec.engineer_tag:
            continue
        key = (rec.day, rec.engineer_tag, rec.lab_tag)
        row = sums.setdefault(key, {
            "target": target, "day": rec.day, "engineer_tag": rec.engineer_tag,
            "engineer": who.get(rec.engineer_tag, rec.engineer_tag),
            "lab": what.get(rec.lab_tag, rec.lab_tag), "amount": 0.0,
            "currency": rec.currency, "amount_usd": 0.0, "source": rec.source,
        })  # fmt: skip
        row["amount"] += rec.amount
        if rec.currency != row["currency"] or rec.amount_usd is None:
            row["amount_usd"] = None  # mixed or unconvertible currencies: refused by the caller
        elif row["amount_usd"] is not None:
            row["amount_usd"] += rec.amount_usd
    for row in sums.values():
        row["amount"] = round(row["amount"], 6)
        if row["amount_usd"] is not None:
            row["amount_usd"] = round(row["amount_usd"], 6)
    return sorted(sums.values(), key=lambda r: (r["day"], r["engineer"], r["lab"]))


def _replace(ledger: Ledger, result: SyncResult, rows: list[dict[str, Any]], now: datetime) -> None:
    """One transaction: the target's month of rows out, the new ones in, the coverage recorded."""
    from sqlalchemy import delete, insert

    from labctl.cost import month_bounds

    lo, hi = month_bounds(result.month)
    with ledger.session() as s:
        s.execute(delete(BilledCost).where(BilledCost.target == result.target,
                                           BilledCost.day >= lo.date(),
                                           BilledCost.day < hi.date()))  # fmt: skip
        if rows:
            s.execute(insert(BilledCost), [{**r, "synced_at": now} for r in rows])
        s.execute(delete(BillingSync).where(BillingSync.target == result.target,
                                            BillingSync.month == result.month))  # fmt: skip
        s.add(BillingSync(target=result.target, month=result.month,
                          covered_from=result.covered_from, covered_until=result.covered_until,
                          source=result.source, rows=result.rows, total_usd=result.total_usd,
                          synced_at=now))  # fmt: skip
