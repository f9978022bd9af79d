"""The ledger's read queries, written once as SQL text, and the readers that run them.

`status` and `cost report` are run all day, so they read without SQLAlchemy when they can
(`open_reader`): on a SQLite ledger already at the schema head, the standard library's sqlite3
runs the SQL below (importing SQLAlchemy alone costs about twice a bare CLI's start-up); on any
other database, or a ledger that needs migrating, a `Ledger` runs the same SQL
(`Ledger.rows`). The budget check in `up` reads its spend through these queries too.

Rows come back as `Row`s with attribute access and the ledger's Python types: naive UTC
datetimes, dicts for JSON columns and absolute workspace paths, whichever driver read them.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from labctl import paths

HEAD = "0006"  # the newest alembic revision; tests/test_ledger.py pins it to the scripts

RUN_STATUSES = ("starting", "up", "failed", "interrupted", "stopping", "down", "partial")
ACTIVE_RUN = ("starting", "up", "failed", "interrupted", "stopping", "partial")

_DATETIMES = {"created_at", "ended_at", "autostop_at", "started_at", "stopped_at"}
_JSON = {"outputs", "attrs", "data"}


def utcnow() -> datetime:
    """Naive UTC (what every backend stores faithfully, SQLite included)."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso_utc(value: datetime | None) -> str | None:
    """A ledger time (naive UTC) as ISO 8601 with its zone, e.g. `2026-12-01T19:00:00Z`."""
    return f"{value:%Y-%m-%dT%H:%M:%S}Z" if value else None


def absolute_from_home(value: str | None) -> str | None:
    """A stored workspace path (relative to LABCTL_HOME since 0005) as an absolute path."""
    if value is None or value.startswith("/"):
        return value
    return str(paths.home() / value)


class Row(dict[str, Any]):
    """One result row: `row.lab` or `row["lab"]`."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _value(column: str, value: Any) -> Any:
    """A column's value as the ORM would hand it back, from either driver."""
    if value is None:
        return None
    if column in _DATETIMES and isinstance(value, str):
        return datetime.fromisoformat(value)
    if column in _JSON and isinstance(value, str):
        return json.loads(value)
    if column == "workspace":
        return absolute_from_home(value)
    return value


def bind(dialect: str, value: Any) -> Any:
    """A parameter as the ledger stores it: on SQLite, times are text in SQLAlchemy's format
    (`2026-12-01 19:00:00.000000`, which sorts in time order) and days ISO dates."""
    if dialect == "sqlite":
        if isinstance(value, datetime):
            return f"{value:%Y-%m-%d %H:%M:%S.%f}"
        if isinstance(value, date):
            return value.isoformat()
    return value


def make_rows(columns: list[str], records: Any) -> list[Row]:
    return [Row((c, _value(c, v)) for c, v in zip(columns, rec, strict=True)) for rec in records]


class Reader(Protocol):
    """What runs the queries: a `Ledger` (SQLAlchemy) or a `SqliteReader`."""

    @property
    def dialect(self) -> str: ...

    def rows(self, sql: str, **params: Any) -> list[Row]: ...


class SqliteReader:
    """A SQLite ledger at HEAD read with the standard library: no SQLAlchemy, no migration."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def at_head(cls, db: Path) -> SqliteReader | None:
        """A reader for `db`, or None when it is missing, empty, not at HEAD or unreadable (the
        caller then opens a `Ledger`, which migrates or explains)."""
        if not db.is_file() or db.stat().st_size == 0:
            return None
        try:
            conn = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=30)
            conn.execute("PRAGMA busy_timeout=30000")
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            return None
        if not version or version[0] != HEAD:
            conn.close()
            return None
        return cls(conn)

    def rows(self, sql: str, **params: Any) -> list[Row]:
        cur = self.conn.execute(sql, {k: bind("sqlite", v) for k, v in params.items()})
        return make_rows([d[0] for d in cur.description], cur.fetchall())


def open_reader() -> Reader:
    """The cheapest reader of the configured ledger (see the module's docstring)."""
    url = paths.ledger_url()
    if url.startswith("sqlite:///") and "?" not in url:
        reader = SqliteReader.at_head(Path(url.removeprefix("sqlite:///")))
        if reader is not None:
            return reader
    from labctl.ledger import Ledger

    return Ledger()


# --- the queries -------------------------------------------------------------------------------


def _where_engineer(engineer: str | None, column: str = "engineer") -> str:
    return f" AND {column} = :engineer" if engineer else ""


def active_runs(reader: Reader, engineer: str | None = None) -> list[Row]:
    """Runs that `down` has not finished, oldest first."""
    statuses = ", ".join(f"'{s}'" for s in ACTIVE_RUN)
    return reader.rows(
        f"SELECT * FROM runs WHERE status IN ({statuses}) AND ended_at IS NULL"
        f"{_where_engineer(engineer)} ORDER BY created_at",
        engineer=engineer,
    )


def run_resources(reader: Reader, run_ids: list[str]) -> dict[str, list[Row]]:
    """Every resource of each run, open or closed, in the order they started."""
    if not run_ids:
        return {}
    names = {f"r{i}": run_id for i, run_id in enumerate(run_ids)}
    found: dict[str, list[Row]] = {run_id: [] for run_id in run_ids}
    for row in reader.rows(
        f"SELECT * FROM resources WHERE run_id IN ({', '.join(':' + n for n in names)})"
        " ORDER BY started_at",
        **names,
    ):
        found[row.run_id].append(row)
    return found


def hours(resource: Any, now: datetime | None = None) -> float:
    """A resource's billed hours (a `Resource` or a row): the cloud's billable time when known,
    else its interval, up to `now` while open."""
    if resource.billable_seconds is not None:
        return float(resource.billable_seconds) / 3600
    end = resource.stopped_at or now or utcnow()
    return max((end - resource.started_at).total_seconds(), 0.0) / 3600


def cost(resource: Any, now: datetime | None = None) -> float | None:
    """A resource's cost in USD at the price recorded at launch; None when unpriced."""
    if resource.price_per_hour is None:
        return None
    return resource.price_per_hour * resource.instance_count * hours(resource, now)


def spend_rows(
    reader: Reader, start: datetime, end: datetime, now: datetime, engineer: str | None = None
) -> list[Row]:
    """Per run of [start, end): engineer, lab, target, closed and running cost, burn, unpriced
    and resource counts.

    Design choice: grouped by run_id and read from a covering index in that order, so SQLite
    aggregates without sorting or touching the table; a resource closed inside the month uses the
    billed hours stored when it closed, and only open or month-straddling ones need date
    arithmetic, clipped to the month first (SQLite's ISO strings compare in time order).
    """
    if reader.dialect == "sqlite":  # SQLite's MIN/MAX of several values are LEAST/GREATEST
        greatest = "MAX"
        lo, hi = "MAX(started_at, :start)", "MIN(COALESCE(stopped_at, :cap), :cap)"
        seconds = f"(julianday({hi}) - julianday({lo})) * 86400.0"
    else:
        greatest = "GREATEST"
        lo, hi = "GREATEST(started_at, :start)", "LEAST(COALESCE(stopped_at, :cap), :cap)"
        seconds = f"CAST(EXTRACT(EPOCH FROM ({hi} - {lo})) AS DOUBLE PRECISION)"
    billed = (
        "CASE WHEN billed_hours IS NOT NULL AND started_at >= :start AND stopped_at < :end"
        " THEN billed_hours"  # closed within the month: no date arithmetic at all
        " WHEN billable_seconds IS NOT NULL THEN CASE WHEN started_at >= :start AND"
        " started_at < :end THEN billable_seconds / 3600.0 ELSE 0.0 END"
        f" ELSE {greatest}({seconds}, 0.0) / 3600.0 END"
    )
    rate = "price_per_hour * instance_count"
    cost = f"COALESCE({rate} * ({billed}), 0.0)"
    return reader.rows(
        "SELECT runs.engineer, runs.lab, runs.target, p.* FROM runs JOIN ("
        " SELECT run_id,"
        f" SUM(CASE WHEN stopped_at IS NULL THEN 0.0 ELSE {cost} END) AS closed,"
        f" SUM(CASE WHEN stopped_at IS NULL THEN {cost} ELSE 0.0 END) AS running,"
        f" SUM(CASE WHEN stopped_at IS NULL THEN COALESCE({rate}, 0.0) ELSE 0.0 END) AS burn,"
        " SUM(CASE WHEN price_per_hour IS NULL THEN 1 ELSE 0 END) AS unpriced,"
        " COUNT(*) AS resources"
        " FROM resources WHERE started_at < :end AND (stopped_at IS NULL OR stopped_at >= :start)"
        f"{_where_engineer(engineer)} GROUP BY run_id"
        ") AS p ON runs.id = p.run_id",
        start=start, end=end, cap=min(end, now), engineer=engineer,
    )  # fmt: skip


def unpriced(
    reader: Reader, start: datetime, end: datetime, engineer: str | None = None
) -> list[str]:
    """`engineer lab kind name` of the cloud resources of [start, end) that have no price."""
    rows = reader.rows(
        "SELECT runs.engineer, runs.lab, r.kind, r.name FROM resources AS r"
        " JOIN runs ON runs.id = r.run_id WHERE r.price_per_hour IS NULL"
        " AND runs.target != 'local' AND r.started_at < :end"
        " AND (r.stopped_at IS NULL OR r.stopped_at >= :start)"
        f"{_where_engineer(engineer, 'r.engineer')}"
        " ORDER BY runs.engineer, runs.lab, r.kind, r.name",
        start=start, end=end, engineer=engineer,
    )  # fmt: skip
    return [" ".join(row.values()) for row in rows]


def coverage(reader: Reader, month_start: datetime) -> dict[str, datetime]:
    """Per synced target: the first moment of the month its bill does not cover (naive UTC)."""
    rows = reader.rows(
        "SELECT target, covered_until FROM billing_syncs WHERE month = :month",
        month=f"{month_start:%Y-%m}",
    )
    midnight = datetime.min.time()
    return {r.target: datetime.combine(date.fromisoformat(str(r.covered_until)), midnight)
            for r in rows}  # fmt: skip


def billed_totals(
    reader: Reader, start: datetime, end: datetime, engineer: str | None = None
) -> list[Row]:
    """Billed USD per (engineer, target, lab) over the days in [start, end)."""
    return reader.rows(
        "SELECT engineer, target, lab, SUM(amount_usd) AS usd FROM billed_costs"
        f" WHERE day >= :lo AND day < :hi{_where_engineer(engineer)}"
        " GROUP BY engineer, target, lab",
        lo=start.date(), hi=end.date(), engineer=engineer,
    )  # fmt: skip
