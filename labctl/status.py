"""`labctl status`: the active runs, their open resources and what they burn, as plain data.

A read of the ledger alone (`labctl.ledger_queries`), plus the local target's processes: no
SQLAlchemy on a SQLite ledger, no backend or cloud SDK, so it answers in a blink.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labctl import ledger_queries as queries
from labctl.ledger_queries import Reader, Row, iso_utc, utcnow


def runs(
    *, engineer: str | None, reader: Reader | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Active runs (of `engineer`, or everyone's) with their open resources and hourly burn."""
    reader = reader or queries.open_reader()
    now = now or utcnow()
    active = queries.active_runs(reader, engineer)
    resources = queries.run_resources(reader, [run.id for run in active])
    return [_view(run, resources[run.id], now) for run in active]


def _view(run: Row, every: list[Row], now: datetime) -> dict[str, Any]:
    local = run.target == "local"
    resources = [_resource(r, local=local) for r in every if r.stopped_at is None]
    outputs = run.outputs or {}
    steps = outputs.get("steps", {})
    return {
        "run": run.id,
        "lab": run.lab,
        "engineer": run.engineer,
        "target": run.target,
        "status": run.status,
        "milestone": outputs.get("milestone"),  # `up --milestone N`; None: the whole lab
        "age_seconds": int((now - run.created_at).total_seconds()),
        "autostop_at": iso_utc(run.autostop_at),
        # the cost so far at launch prices (cloud-equivalent on the local target)
        "cost_usd": round(sum(queries.cost(r, now) or 0.0 for r in every), 4),
        "burn_usd_per_hour": round(sum(r["usd_per_hour"] or 0 for r in resources), 4),
        "cloud_equivalent": run.target == "local",
        "metrics": _per_step(steps, "metrics"),
        "tracking": _per_step(steps, "tracking"),  # e.g. a job's MLflow run
        "outputs": _per_step(steps, "outputs"),  # e.g. local Beam files, a drift report
        "resources": resources,
    }


def _per_step(steps: dict[str, Any], key: str) -> dict[str, Any]:
    """`{step: result[key]}` of the steps whose result has a non-empty `key`."""
    return {k: v[key] for k, v in steps.items() if isinstance(v, dict) and v.get(key)}


def _resource(r: Row, *, local: bool) -> dict[str, Any]:
    if local:
        from labctl.backends.local.processes import live_status

        state = live_status(r)
    else:
        state = r.status
    item: dict[str, Any] = {
        "kind": r.kind,
        "name": r.name,
        "status": state,
        "instance_type": r.instance_type,
        "count": r.instance_count,
        "usd_per_hour": r.price_per_hour * r.instance_count if r.price_per_hour else None,
    }
    if r.kind == "endpoint":
        item["url"] = (r.attrs or {}).get("url")
    return item
