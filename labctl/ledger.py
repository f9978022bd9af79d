"""The ledger: runs, billable resources and events, in SQLite or any SQLAlchemy database.

Contract: a billable resource's row is written (and committed) *before* the call that creates it,
with owner, lab, run, target, kind, instance type, count and the hourly price at launch; its
interval is closed when it is deleted. Every write is its own short transaction, so a killed
`labctl up` leaves a ledger that `labctl down` can finish from.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from labctl import ledger_queries, paths
from labctl.errors import LabctlError, Refused, UsageError

# the ledger's vocabulary lives in ledger_queries (importable without SQLAlchemy); re-exported
from labctl.ledger_queries import ACTIVE_RUN as ACTIVE_RUN
from labctl.ledger_queries import HEAD as HEAD
from labctl.ledger_queries import RUN_STATUSES as RUN_STATUSES
from labctl.ledger_queries import Row, absolute_from_home, make_rows
from labctl.ledger_queries import bind as bind_param
from labctl.ledger_queries import iso_utc as iso_utc
from labctl.ledger_queries import utcnow as utcnow


def naive_utc(value: datetime | None) -> datetime | None:
    """A cloud's timestamp as the ledger's naive UTC (naive ones are taken as UTC already)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def new_id(prefix: str = "") -> str:
    return prefix + secrets.token_hex(4)


class HomePath(TypeDecorator[str]):
    """A path stored relative to LABCTL_HOME when it lies inside it, handed back absolute.

    A moved LABCTL_HOME keeps working; rows written before 0005 (absolute) are read unchanged.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else relative_to_home(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return absolute_from_home(value)


def relative_to_home(path: str) -> str:
    """`$LABCTL_HOME/workspaces/...` -> `workspaces/...`; other paths unchanged."""
    home = str(paths.home()).rstrip("/") + "/"
    return path[len(home) :] if path.startswith(home) else path


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON}


class Run(Base):
    """One `labctl up` of a lab by an engineer on a target, until `down` ends it."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    engineer: Mapped[str] = mapped_column(String(200), index=True)
    lab: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)  # RUN_STATUSES
    workspace: Mapped[str] = mapped_column(HomePath)  # relative to LABCTL_HOME (0005)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    autostop_at: Mapped[datetime | None] = mapped_column(DateTime)
    estimate_usd: Mapped[float | None] = mapped_column(Float)
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Resource(Base):
    """A billable (or process-holding) thing a run created; open while `stopped_at` is null."""

    __tablename__ = "resources"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    engineer: Mapped[str] = mapped_column(String(200), index=True)
    lab: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))  # RESOURCE_KINDS
    name: Mapped[str] = mapped_column(String(256))
    provider_id: Mapped[str | None] = mapped_column(Text)  # ARN, resource name, token
    region: Mapped[str | None] = mapped_column(String(32))
    instance_type: Mapped[str | None] = mapped_column(String(64))
    instance_count: Mapped[int] = mapped_column(Integer, default=1)
    price_per_hour: Mapped[float | None] = mapped_column(Float)  # per instance, at launch
    price_source: Mapped[str | None] = mapped_column(String(200))
    spot: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    billable_seconds: Mapped[float | None] = mapped_column(Float)
    billed_hours: Mapped[float | None] = mapped_column(Float)  # fixed once closed (`hours()`)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)

    @property
    def is_open(self) -> bool:
        return self.stopped_at is None

    def hours(self, now: datetime | None = None) -> float:
        return ledger_queries.hours(self, now)

    def cost(self, now: datetime | None = None) -> float | None:
        return ledger_queries.cost(self, now)


# Teardown order: what hangs on an endpoint, endpoints, then jobs, then the rest (DESIGN.md).
RESOURCE_KINDS = (  # in teardown order: what writes to a resource goes before it
    "pipeline",  # pipelines and their schedules redeploy endpoints and rewrite tables
    "monitoring-schedule",
    "quality-schedule",  # before the jobs it starts and the endpoint whose traffic it reads
    "scaling-policy",
    "endpoint",
    "endpoint-config",
    "recommendation-job",  # before the model it load-tests
    "model",
    "tuning-job",
    "training-job",
    "batch-job",
    "processing-job",
    "comprehend-job",
    "model-package",  # before its group
    "model-package-group",
    "feature-group",
    "service",
    "bucket",
    "stack",
)


class Event(Base):
    """Something worth an audit line: a forced budget override, a failure, a teardown."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(String(16), index=True)
    engineer: Mapped[str] = mapped_column(String(200))
    lab: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class EngineerLock(Base):
    """One row per engineer, locked (SELECT ... FOR UPDATE) while a budget check reserves a run."""

    __tablename__ = "engineer_locks"

    engineer: Mapped[str] = mapped_column(String(200), primary_key=True)


class BilledCost(Base):
    """A cloud bill's figure for one day, engineer (tag) and lab (tag, '' when absent).

    Written only by `labctl cost sync`, which replaces a target's rows for a whole month at once.
    """

    __tablename__ = "billed_costs"
    __table_args__ = (UniqueConstraint("target", "day", "engineer_tag", "lab",
                                       name="uq_billed_costs_key"),)  # fmt: skip

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(16))
    day: Mapped[date] = mapped_column(Date)  # UTC usage day
    engineer: Mapped[str] = mapped_column(String(200))  # the ledger's name for the tag's value
    engineer_tag: Mapped[str] = mapped_column(String(256))  # the tag value as the bill has it
    lab: Mapped[str] = mapped_column(String(256))
    amount: Mapped[float] = mapped_column(Float)  # in `currency`
    currency: Mapped[str] = mapped_column(String(8))
    amount_usd: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(300))  # e.g. "aws-ce:UnblendedCost"
    synced_at: Mapped[datetime] = mapped_column(DateTime)


class BillingSync(Base):
    """Which days of a month a target's bill covers: [covered_from, covered_until)."""

    __tablename__ = "billing_syncs"

    target: Mapped[str] = mapped_column(String(16), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    covered_from: Mapped[date] = mapped_column(Date)
    covered_until: Mapped[date] = mapped_column(Date)  # exclusive
    source: Mapped[str] = mapped_column(String(300))
    rows: Mapped[int] = mapped_column(Integer)
    total_usd: Mapped[float] = mapped_column(Float)
    synced_at: Mapped[datetime] = mapped_column(DateTime)


class Ledger:
    """Short transactions over one engine. Use `Ledger()` for the configured database.

    `clock` gives "now" for the rows it stamps (runs, resources, events): tests pass a fixed one.
    """

    def __init__(self, url: str | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.url = url or paths.ledger_url()
        self.clock = clock
        paths.ensure_home()
        self.engine = _open(self.url)
        try:
            _migrate(self.engine)
        except LabctlError:
            raise
        except DatabaseError as exc:
            raise _damaged(self.url, exc) from None
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def rows(self, sql: str, **params: Any) -> list[Row]:
        """Run one of `labctl.ledger_queries`' SQL texts (the `Reader` protocol)."""
        with self.engine.connect() as conn:
            result = conn.execute(text(sql), {k: bind_param(self.dialect, v)
                                              for k, v in params.items()})  # fmt: skip
            return make_rows(list(result.keys()), result.fetchall())

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._session.begin() as s:
            yield s

    @contextmanager
    def engineer_lock(self, engineer: str) -> Iterator[None]:
        """Serialise budget checks of one engineer across processes and machines.

        Design choice: on PostgreSQL a row lock held for the block (a team's shared ledger); on
        SQLite, which lives on one machine, an exclusive file lock beside LABCTL_HOME's ledger.
        """
        if self.engine.dialect.name == "sqlite":
            import fcntl

            folder = paths.private_dir(paths.home() / "locks")
            with open(folder / f"budget-{paths.engineer_folder(engineer)}.lock", "w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                yield
            return
        from sqlalchemy.dialects.postgresql import insert

        with self.session() as s:
            s.execute(insert(EngineerLock).values(engineer=engineer).on_conflict_do_nothing())
        with self.session() as s:
            s.execute(
                select(EngineerLock).where(EngineerLock.engineer == engineer).with_for_update()
            )
            yield

    # --- runs ---
    def start_run(self, *, engineer: str, lab: str, target: str, workspace: str, **kw: Any) -> Run:
        run = Run(
            id=new_id("r"),
            engineer=engineer,
            lab=lab,
            target=target,
            workspace=workspace,
            status="starting",
            created_at=self.clock(),
            outputs={},
            **kw,
        )
        with self.session() as s:
            s.add(run)
        return run

    def update_run(self, run_id: str, **fields: Any) -> Run:
        with self.session() as s:
            run = s.get_one(Run, run_id)
            for k, v in fields.items():
                setattr(run, k, v)
        return run

    def get_run(self, run_id: str) -> Run | None:
        with self.session() as s:
            return s.get(Run, run_id)

    def active_runs(
        self, *, engineer: str | None = None, lab: str | None = None, target: str | None = None
    ) -> list[Run]:
        """Runs that `down` has not finished, oldest first."""
        q = select(Run).where(Run.status.in_(ACTIVE_RUN), Run.ended_at.is_(None))
        q = q.order_by(Run.created_at)
        if engineer:
            q = q.where(Run.engineer == engineer)
        if lab:
            q = q.where(Run.lab == lab)
        if target:
            q = q.where(Run.target == target)
        with self.session() as s:
            return list(s.scalars(q))

    # --- resources ---
    def add_resource(self, run: Run, *, kind: str, name: str, **fields: Any) -> Resource:
        """Record a resource BEFORE creating it (status 'creating', interval open)."""
        assert kind in RESOURCE_KINDS, kind
        res = Resource(
            id=new_id("x"),
            run_id=run.id,
            engineer=run.engineer,
            lab=run.lab,
            target=run.target,
            region=fields.pop("region", run.region),
            kind=kind,
            name=name,
            status="creating",
            started_at=self.clock(),
            attrs=fields.pop("attrs", {}),
            **fields,
        )
        with self.session() as s:
            s.add(res)
        return res

    def update_resource(
        self, res_id: str, *, attrs: dict[str, Any] | None = None, **f: Any
    ) -> None:
        with self.session() as s:
            res = s.get_one(Resource, res_id)
            for k, v in f.items():
                setattr(res, k, v)
            if attrs:
                res.attrs = {**(res.attrs or {}), **attrs}
            if res.stopped_at is not None:
                res.billed_hours = res.hours()

    def close_resource(self, res_id: str, *, status: str = "deleted", **fields: Any) -> None:
        """End a resource's interval (idempotent: an already closed one keeps its end)."""
        with self.session() as s:
            res = s.get_one(Resource, res_id)
            if res.stopped_at is None:
                res.stopped_at = fields.pop("stopped_at", None) or self.clock()
            res.status = status
            for k, v in fields.items():
                setattr(res, k, v)
            res.billed_hours = res.hours()

    def open_resources(self, run_id: str) -> list[Resource]:
        with self.session() as s:
            q = select(Resource).where(Resource.run_id == run_id, Resource.stopped_at.is_(None))
            return list(s.scalars(q.order_by(Resource.started_at)))

    def run_resources(self, run_id: str) -> list[Resource]:
        with self.session() as s:
            q = select(Resource).where(Resource.run_id == run_id).order_by(Resource.started_at)
            return list(s.scalars(q))

    # --- events ---
    def event(
        self,
        kind: str,
        message: str,
        *,
        run: Run | None = None,
        engineer: str | None = None,
        lab: str | None = None,
        **data: Any,
    ) -> None:
        with self.session() as s:
            s.add(
                Event(
                    run_id=run.id if run else None,
                    engineer=run.engineer if run else (engineer or ""),
                    lab=run.lab if run else lab,
                    kind=kind,
                    message=message,
                    at=self.clock(),
                    data=data,
                )
            )

    def events(
        self, *, run_id: str | None = None, kind: str | None = None, engineer: str | None = None
    ) -> list[Event]:
        q = select(Event).order_by(Event.id)
        if engineer is not None:
            q = q.where(Event.engineer == engineer)
        if run_id:
            q = q.where(Event.run_id == run_id)
        if kind:
            q = q.where(Event.kind == kind)
        with self.session() as s:
            return list(s.scalars(q))


def _redact(url: str) -> str:
    """A database URL without its password (nothing secret in logs or messages)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable LABCTL_DB_URL>"


def _open(url: str) -> Engine:
    """The engine for `url`, or one message and a hint for a URL that cannot hold a ledger: no
    driver, an in-memory database (nothing would be recorded), a missing folder, or a SQLite
    file that is empty while workspaces exist (a lost ledger: never silently started anew)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UsageError(
            f"LABCTL_DB_URL is not a database URL: {_redact(url)}",
            hint="e.g. sqlite:////path/ledger.db or postgresql+psycopg://user@host/db",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            raise Refused(
                f"the ledger at {_redact(url)} is in memory: nothing would ever be recorded",
                hint="point LABCTL_DB_URL at a file (sqlite:////path/ledger.db) or unset it",
            )
        _check_sqlite_file(Path(database))
    try:
        return _engine(url)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        name = getattr(exc, "name", None) or parsed.drivername
        raise LabctlError(
            f"cannot open the ledger at {_redact(url)}: no database driver '{name}'",
            hint="pip install 'labctl[postgres]' for PostgreSQL, or fix LABCTL_DB_URL's driver",
        ) from None


def _check_sqlite_file(db: Path) -> None:
    if not db.parent.is_dir():
        raise LabctlError(
            f"cannot open the ledger at {db}: the folder {db.parent} does not exist",
            hint="create it, or fix LABCTL_DB_URL / LABCTL_HOME",
        )
    if db.is_dir():
        raise LabctlError(f"the ledger {db} is a folder, not a file", hint="fix LABCTL_DB_URL")
    workspaces = paths.home() / "workspaces"
    if db.is_file() and db.stat().st_size == 0 and any(workspaces.glob("*/*/*")):
        raise LabctlError(
            f"the ledger {db} is empty (0 bytes) but {workspaces} holds workspaces: its runs "
            "and their resources would be forgotten",
            hint=f"restore {db.name} from a backup; to start a new ledger anyway, move the "
            "empty file aside and tear the workspaces' labs down by hand",
        )
    if not db.exists():  # a deleted ledger's -wal/-shm would make SQLite fail (disk I/O error)
        for side in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            if side.exists():
                side.replace(side.with_name(side.name + ".orphaned"))  # kept, never replayed
    paths.private_file(db)  # 0600 whatever the umask (SQLite gives -wal/-shm the same mode)


def _damaged(url: str, exc: DatabaseError) -> LabctlError:
    return LabctlError(
        f"cannot open the ledger at {_redact(url)}: {exc.orig}",
        hint="check LABCTL_DB_URL / LABCTL_HOME; a damaged ledger.db is never replaced: "
        "restore it from a backup (or `sqlite3 ledger.db .recover`)",
    )


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _migrate(engine: Engine) -> None:
    """Bring the schema to HEAD with alembic, paying for alembic only when it is behind."""
    try:
        with engine.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError) as exc:
        if "no such table" not in str(exc.orig) and "does not exist" not in str(exc.orig):
            raise
        current = None
    if current == HEAD:
        return
    if current and current > HEAD:
        raise LabctlError(
            f"the ledger was written by a newer labctl (schema {current}; this one knows up to "
            f"{HEAD})",
            hint="upgrade labctl (pip install -U labctl); never downgrade a shared ledger",
        )
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(paths.PACKAGE_DIR / "migrations"))
    with _migration_lock(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7154525)"))  # one migrator at a time
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")  # a no-op when another process got there first


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """SQLite: an exclusive lock on a file beside the database while it is migrated."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    import fcntl

    with open(f"{database}.migrate-lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
