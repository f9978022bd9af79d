"""Spend: estimates before `up`, per-engineer monthly budgets, and their enforcement.

Money rules, stated once:
- A resource costs `price_per_hour` (recorded at launch) x `instance_count` x billed hours, where
  billed hours are the cloud's billable time when known, else the open/closed interval.
- Once `labctl cost sync` has read a target's bill, the days it covers cost what the bill says
  (labctl.actuals) and the ledger's estimates count only from the end of that coverage.
- The local target costs $0; its figures are the cloud-equivalent, shown as such.
- Estimates assume spot saves `SPOT_SAVINGS` of on-demand training where a step uses spot, on the
  clouds where labctl trains on spot (`SPOT_CLOUDS`: SageMaker managed spot, Vertex AI spot VMs);
  Databricks job clusters keep an on-demand driver and bill DBUs in full, so they get none.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from labctl.errors import BudgetRefused, CatalogError, UsageError
from labctl.ledger_queries import utcnow
from labctl.naming import identity
from labctl.prices import DEFAULT_REGION, PriceBook

if TYPE_CHECKING:  # the catalog is imported by `estimate`: `cost report` never needs it
    from labctl.autostop import Deadline
    from labctl.catalog import Catalog, Lab
    from labctl.ledger import Ledger, Run

SPOT_SAVINGS = 0.6  # conservative: SageMaker quotes "up to 90%", Vertex AI spot 60-91 %
SPOT_CLOUDS = ("aws", "gcp")
HOURS_PER_MONTH = 730
DEFAULT_AUTOSTOP = 8 * 3600  # a team's default study session (team `default_autostop`)
SECRET_KEYS = ("user", "username", "login", "password", "pass", "passwd", "secret", "token")
MAX_BUDGET_USD = 1_000_000  # per engineer and month: anything above is a typo
GCP_TABLE_ID = re.compile(
    r"[a-z][a-z0-9-]{4,61}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_-]{1,1024}"
)
USAGE = {  # (cloud, step kind) -> price catalog usage
    ("aws", "train"): "training",
    ("aws", "tune"): "training",
    ("aws", "deploy"): "hosting",
    ("aws", "batch"): "batch-transform",
    ("aws", "monitor"): "processing",
    ("gcp", "train"): "training",
    ("gcp", "tune"): "training",
    ("gcp", "deploy"): "prediction",
    ("gcp", "batch"): "prediction",
    ("databricks", "train"): "jobs-compute",
    ("databricks", "tune"): "jobs-compute",
    ("databricks", "deploy"): "model-serving",
    ("databricks", "batch"): "jobs-compute",
    ("databricks", "monitor"): "jobs-compute",
}
RESOURCE_STEP = {  # ledger resource kind -> the step kind whose usage prices it
    "training-job": "train",
    "tuning-job": "tune",
    "endpoint": "deploy",
    "batch-job": "batch",
    "monitoring-schedule": "monitor",
    "quality-schedule": "monitor",  # the processing jobs of a monitor step's schedule
    "processing-job": "monitor",  # SageMaker Processing, as a monitoring job
}


def launch_price(
    prices: PriceBook,
    cloud: str,
    kind: str,
    instance_type: str,
    region: str | None = None,
    *,
    equivalent: bool = False,
) -> dict[str, Any]:
    """A resource's price at launch as ledger fields (`price_per_hour`, `price_source`), or {}
    when it cannot be priced. `equivalent`: the local target's cloud-equivalent figure."""
    usage = USAGE.get((cloud, RESOURCE_STEP.get(kind, "")))
    price = (
        prices.lookup(cloud=cloud, usage=usage, instance_type=instance_type, region=region)
        if usage
        else None
    )
    if price is None:
        return {}
    source = f"cloud-equivalent: {price.source}" if equivalent else str(price.source)
    return {"price_per_hour": price.usd_per_hour, "price_source": source[:200]}


# --- estimates ----------------------------------------------------------------------------------


@dataclass
class EstimateLine:
    step: str
    kind: str
    instance_type: str
    count: int
    hours: float
    usd_per_hour: float | None  # per instance
    usd: float | None
    note: str = ""


@dataclass
class Estimate:
    target: str
    cloud: str  # whose prices: the target's, or the lab's cloud for the local target
    region: str
    lines: list[EstimateLine]
    unpriced: list[str]
    deadline: Deadline | None = None  # the endpoints' deadline the estimate assumed

    @property
    def equivalent_usd(self) -> float:
        return round(sum(line.usd or 0 for line in self.lines), 4)

    @property
    def total_usd(self) -> float:
        """What the run will cost: $0 on the local target."""
        return 0.0 if self.target == "local" else self.equivalent_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "cloud": self.cloud,
            "region": self.region,
            "cloud_equivalent": self.target == "local",
            "total_usd": self.total_usd,
            "equivalent_usd": self.equivalent_usd,
            "steps": [vars(line) for line in self.lines],
            "unpriced": self.unpriced,
            **(self.deadline.to_dict() if self.deadline else {}),
        }


def priced_line(
    prices: PriceBook, *, cloud: str, region: str, usage: str | None, step: str, kind: str,
    instance_type: str, count: float, hours: float, note: str, unpriced: list[str],
) -> EstimateLine:  # fmt: skip
    """One estimate line at the price catalog's rate for `usage`; a line with no price is named
    in `unpriced` (and counts nothing)."""
    price = (
        prices.lookup(cloud=cloud, usage=usage, instance_type=instance_type, region=region)
        if usage
        else None
    )
    if price is None:
        unpriced.append(f"{step}: {instance_type} ({usage or kind}) in {region}")
    usd = price.usd_per_hour * count * hours if price else None
    return EstimateLine(
        step,
        kind,
        instance_type,
        count,
        round(hours, 4),
        price.usd_per_hour if price else None,
        round(usd, 4) if usd is not None else None,
        note,
    )


def estimate(
    lab: Lab, target: str, region: str | None, prices: PriceBook, *,
    rows: int | None = None, max_jobs: int | None = None, endpoint_hours: float | None = None,
) -> Estimate:  # fmt: skip
    """Per-step cost of one `up` of `lab`, at the target's (or, locally, the lab's cloud) prices.

    Endpoints bill until deleted: they are priced for `endpoint_hours` (what `up` commits to:
    until its deadline, `committed_endpoint_hours`), or for the lab's study session when not given.
    """
    from labctl.catalog import (
        STUDY_SESSION_HOURS,
        BatchStep,
        DeployStep,
        MonitorStep,
        TrainStep,
        TuneStep,
    )

    cloud = lab.cloud if target == "local" else target
    region = region if target != "local" and region else DEFAULT_REGION[cloud]
    lines: list[EstimateLine] = []
    unpriced: list[str] = []
    trains = {s.name: s for s in lab.steps if isinstance(s, TrainStep)}

    def line(step_name: str, kind: str, itype: str, count: int, hours: float, note: str) -> None:
        lines.append(priced_line(prices, cloud=cloud, region=region, usage=USAGE.get((cloud, kind)),
                                 step=step_name, kind=kind, instance_type=itype, count=count,
                                 hours=hours, note=note, unpriced=unpriced))  # fmt: skip

    for step in lab.steps:
        match step:
            case TrainStep():
                hours = step.expected_runtime / 3600
                note = "on-demand"
                if step.spot and cloud in SPOT_CLOUDS:
                    hours *= 1 - SPOT_SAVINGS
                    note = f"spot, {SPOT_SAVINGS:.0%} saving assumed"
                line(step.name, "train", step.instance_type, step.instance_count, hours, note)
            case TuneStep():
                job = trains[step.train]
                jobs = max_jobs or step.max_jobs
                per_job = job.expected_runtime / 3600
                note = f"{jobs} jobs x {per_job:.2f} h"
                if job.spot and cloud in SPOT_CLOUDS:
                    per_job *= 1 - SPOT_SAVINGS
                    note += ", spot"
                line(step.name, "tune", job.instance_type, job.instance_count, jobs * per_job, note)
            case DeployStep():
                hours = step.expected_hours if endpoint_hours is None else endpoint_hours
                variants = step.variants or []
                instances = step.instance_count * max(len(variants), 1)
                line(step.name, "deploy", step.instance_type, instances, hours, "")
                if lines[-1].usd_per_hour is not None:
                    burn = lines[-1].usd_per_hour * instances
                    lines[-1].note = (
                        f"{hours:.4g} h; ${burn:.3f}/h = ${burn * 24:,.2f}/day, "
                        f"${burn * HOURS_PER_MONTH:,.2f}/month if left on"
                    )
            case BatchStep():
                line(
                    step.name,
                    "batch",
                    step.instance_type,
                    step.instance_count,
                    step.expected_runtime / 3600,
                    "batch job",
                )
            case MonitorStep() if cloud == "gcp":
                pass  # Vertex AI Model Monitoring is per GB analysed: labctl.backends.gcp.pricing
            case MonitorStep():
                deploy = next(s for s in lab.steps if s.name == step.endpoint)
                live = deploy.expected_hours if endpoint_hours is None else endpoint_hours  # type: ignore[attr-defined]
                runs = live if step.schedule == "hourly" else max(live / 24, 1)
                line(
                    step.name,
                    "monitor",
                    step.instance_type,
                    1,
                    runs * 0.1,
                    f"{step.schedule} monitoring job, ~6 min each",
                )
    if cloud == "gcp":  # Dataflow, Vertex AI Pipelines and Model Monitoring
        from labctl.backends.gcp import pricing

        hours = STUDY_SESSION_HOURS if endpoint_hours is None else endpoint_hours
        extra, missing = pricing.estimate_lines(lab, prices, region, hours)
        lines += extra
        unpriced += missing
    if target == "aws":  # the service components of the lab's rendered module
        from labctl import components

        # hourly components stay up as long as the endpoints do (a study session by default)
        hours = STUDY_SESSION_HOURS if endpoint_hours is None else endpoint_hours
        extra, missing = components.estimate_lines(lab, prices, region, hours)
        lines += extra
        unpriced += missing
    if cloud == "databricks":  # Delta Live Tables pipelines (labctl.backends.databricks)
        from labctl.backends.databricks import estimate as dbx_estimate

        extra, missing = dbx_estimate.estimate_lines(lab, prices, region, endpoint_hours)
        lines += extra
        unpriced += missing
    return Estimate(target, cloud, region, lines, unpriced)


def committed_endpoint_hours(deadline: Deadline, now: datetime) -> float:
    """How long `up` (started `now`) commits an endpoint for: until its deadline
    (labctl.autostop), else until the month ends (`--autostop none`)."""
    end = deadline.at if deadline.at is not None else month_bounds(now=now)[1]
    return max((end - now).total_seconds(), 0.0) / 3600


def endpoint_burn(e: Estimate) -> float:
    """$/h of the lab's endpoints while they stay up."""
    return sum((line.usd_per_hour or 0) * line.count for line in e.lines if line.kind == "deploy")


# --- team and budgets ---------------------------------------------------------------------------


class Smtp(BaseModel):
    """Where alert email goes out; $LABCTL_SMTP_HOST/PORT/FROM/STARTTLS override these, and the
    login comes only from $LABCTL_SMTP_USER / $LABCTL_SMTP_PASSWORD (never from a file)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    host: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_login(cls, data: Any) -> Any:
        secret = (
            [k for k in data if str(k).lower() in SECRET_KEYS] if isinstance(data, dict) else []
        )
        if secret:
            raise ValueError(
                f"'{secret[0]}' must not be in a file: the SMTP login comes only from "
                "$LABCTL_SMTP_USER / $LABCTL_SMTP_PASSWORD"
            )
        return data

    port: int = Field(587, ge=1, le=65535)
    sender: str | None = Field(None, alias="from")
    starttls: bool = True  # required when true: no STARTTLS offered, no mail sent


class Alerts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    emails: list[str] = Field(default_factory=list)
    webhook: str | None = None  # $LABCTL_ALERT_WEBHOOK overrides (keep tokenised URLs out of git)
    notify_engineer: bool = True  # also email the engineer when their name is an email address
    smtp: Smtp = Field(default_factory=Smtp)

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("emails")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        return value


class Billing(BaseModel):
    """Where `labctl cost sync` reads each cloud's bill (AWS Cost Explorer needs nothing)."""

    model_config = ConfigDict(extra="forbid")
    settle_days: int = Field(1, ge=0, le=7)  # days before today the bill may still change
    gcp_export_table: str | None = None  # PROJECT.DATASET.gcp_billing_export_v1_<ACCOUNT>
    gcp_project: str | None = None  # where the query job runs (default: the table's project)
    databricks_warehouse_id: str | None = None

    @field_validator("gcp_export_table")
    @classmethod
    def _table_id(cls, value: str | None) -> str | None:
        if value and not GCP_TABLE_ID.fullmatch(value):
            raise ValueError(
                "must be PROJECT.DATASET.TABLE, e.g. "
                "my-billing.billing.gcp_billing_export_v1_01AB23_45CD67_89EF01"
            )
        return value

    @field_validator("databricks_warehouse_id")
    @classmethod
    def _warehouse(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"[A-Za-z0-9]+", value):
            raise ValueError("must be a SQL warehouse id (letters and digits)")
        return value


# Budgets are numbers (never text), above 0 and finite: a budget of 0 is rejected everywhere (the
# cloud budgets need > 0 too); to keep someone off the clouds, give them a cent.
Budget = Annotated[float, Field(gt=0, le=MAX_BUDGET_USD, strict=True, allow_inf_nan=False)]


class EngineerBudget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    monthly_budget_usd: Budget


class Team(BaseModel):
    """The `team:` section of labs.yaml, or `team.yaml` ($LABCTL_TEAM).

    Alert thresholds are percents of the budget, 0 < t <= 1000, strictly increasing. They only
    decide when alerts go out: at or over 100% an engineer is over budget (refused by `up`,
    torn down by `cost enforce`) whatever the thresholds.
    """

    model_config = ConfigDict(extra="forbid")
    monthly_budget_usd: Budget = 300.0
    alert_thresholds: list[Annotated[int, Field(gt=0, le=1000, strict=True)]] = Field(
        default_factory=lambda: [50, 75, 100]
    )
    engineers: dict[str, EngineerBudget] = Field(default_factory=dict)
    alerts: Alerts = Field(default_factory=Alerts)
    billing: Billing = Field(default_factory=Billing)
    # every endpoint's deadline (labctl.autostop): min(now + default_autostop, study_day_end)
    default_autostop: int | None = DEFAULT_AUTOSTOP  # seconds; from "8h"; "none": no default
    study_day_end: str | None = None  # e.g. "19:00 Europe/Paris" (zoneinfo; UTC if left out)

    @field_validator("default_autostop", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int | None:
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            return None
        from labctl.catalog import parse_duration

        seconds = parse_duration(value)
        if not 0 < seconds <= 366 * 86400:
            raise ValueError("must be a duration between 1m and 366d, e.g. 8h (or none)")
        return seconds

    @field_validator("study_day_end")
    @classmethod
    def _day_end(cls, value: str | None) -> str | None:
        if value is not None:
            from labctl.autostop import parse_day_end

            parse_day_end(value)
        return value

    @field_validator("engineers")
    @classmethod
    def _identities(cls, value: dict[str, EngineerBudget]) -> dict[str, EngineerBudget]:
        """Keyed by normalised identity (`Ana@X.io` is `ana@x.io`, as everywhere in labctl)."""
        out: dict[str, EngineerBudget] = {}
        for name, budget in value.items():
            if identity(name) in out:
                raise ValueError(f"'{name}' is listed twice (identities ignore case)")
            out[identity(name)] = budget
        return out

    @field_validator("alert_thresholds")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if any(a >= b for a, b in itertools.pairwise(value)):
            raise ValueError(f"must be strictly increasing, without repeats: {value}")
        return value

    def budget_for(self, engineer: str) -> float:
        own = self.engineers.get(identity(engineer))
        return own.monthly_budget_usd if own else self.monthly_budget_usd


def team(cat: Catalog | None = None) -> Team:
    """$LABCTL_TEAM (a team.yaml), else the catalog's `team:` section, else the defaults."""
    file = os.environ.get("LABCTL_TEAM")
    if not file:
        data = cat.team if cat else None
        try:
            return Team.model_validate(data or {})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in exc.errors(include_url=False))  # fmt: skip
            raise CatalogError(f"labs.yaml team: {problems}") from None
    from labctl import catalog, safe_yaml  # the YAML checks (file:line), for a team file only

    text = safe_yaml.read_text(Path(file), "team file")
    data = safe_yaml.load_yaml(text, file)
    wrapped = isinstance(data, dict) and "team" in data
    prefix = ("team",) if wrapped else ()
    return catalog.validate_model(Team, (data["team"] if wrapped else data) or {}, text, file,
                                  prefix)  # fmt: skip


def budget_inputs(engineer: str, cat: Catalog | None = None) -> dict[str, Any]:
    """Terraform inputs for the cloud budget object: from $LABCTL_TEAM, else the catalog's
    `team:` section (pass `cat`); with neither, no budget object (monthly_budget_usd None)."""
    configured = bool(os.environ.get("LABCTL_TEAM") or (cat is not None and cat.team))
    t = team(cat) if configured else Team()
    return {
        "alert_thresholds": t.alert_thresholds,
        "alert_emails": t.alerts.emails,
        "monthly_budget_usd": t.budget_for(engineer) if configured else None,
    }


def month_bounds(
    month: str | None = None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """[start, end) of 'YYYY-MM' (default: this month), naive UTC."""
    now = now or utcnow()
    if month:
        year, mon = (int(p) for p in month.split("-"))
        if not (1970 <= year <= 9998 and 1 <= mon <= 12):
            raise UsageError(f"--month {month}: no such month for a ledger",
                             hint="YYYY-MM between 1970-01 and 9998-12")  # fmt: skip
    else:
        year, mon = now.year, now.month
    start = datetime(year, mon, 1)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1)
    return start, end


@dataclass
class BudgetCheck:
    engineer: str
    budget_usd: float
    spent_usd: float
    estimate_usd: float
    thresholds: list[int]
    reserved_usd: float = 0.0  # estimates of this engineer's runs still starting
    forced: bool = False
    crossed: list[int] = field(default_factory=list)  # thresholds this run crosses

    @property
    def after_usd(self) -> float:
        return round(self.spent_usd + self.reserved_usd + self.estimate_usd, 4)

    @property
    def over(self) -> bool:
        """At or over 100% after this run: what `cost enforce` would tear down at once."""
        return over_budget(self.after_usd, self.budget_usd)


def over_budget(spent_usd: float, budget_usd: float) -> bool:
    """The one definition of over budget (`up`, `cost report`, `cost enforce`): at or over 100%."""
    return spent_usd >= budget_usd


def check_budget(
    ledger: Ledger, cat: Catalog | None, engineer: str, estimate_usd: float, *,
    force: bool = False, now: datetime | None = None,
) -> BudgetCheck:  # fmt: skip
    """Refuse (BudgetRefused, exit 3) when month-to-date spend + the estimate passes the budget."""
    t = team(cat)
    from labctl.spend_report import spent_this_month

    spent = spent_this_month(ledger, engineer, now)
    reserved = sum(r.estimate_usd or 0 for r in ledger.active_runs(engineer=engineer)
                   if r.status == "starting" and r.target != "local")  # fmt: skip
    check = BudgetCheck(engineer, t.budget_for(engineer), spent, estimate_usd, t.alert_thresholds,
                        reserved_usd=round(reserved, 4))  # fmt: skip
    if check.budget_usd > 0:
        before = (spent + reserved) / check.budget_usd * 100
        after = check.after_usd / check.budget_usd * 100
        check.crossed = [p for p in t.alert_thresholds if before < p <= after]
    if check.over and estimate_usd > 0:
        if not force:
            starting = f" + ${reserved:,.2f} for runs starting now" if reserved else ""
            raise BudgetRefused(
                f"{engineer}: spent ${spent:,.2f} this month{starting} + this lab's estimate "
                f"${estimate_usd:,.2f} = ${check.after_usd:,.2f}, over the budget of "
                f"${check.budget_usd:,.2f}",
                hint="tear something down (`labctl status`), ask for a higher budget, "
                "or pass --force (recorded in the ledger)",
            )
        check.forced = True
    return check


def reserve(
    ledger: Ledger, cat: Catalog, *, engineer: str, estimate_usd: float, force: bool = False,
    now: datetime | None = None, **run_fields: Any,
) -> tuple[BudgetCheck, Run]:  # fmt: skip
    """Check the budget and record the run as one step under the engineer's lock, so two
    concurrent `up`s cannot both squeeze under one budget (the first one's estimate counts
    for the second while it is starting)."""
    with ledger.engineer_lock(engineer):
        check = check_budget(ledger, cat, engineer, estimate_usd, force=force, now=now)
        run = ledger.start_run(engineer=engineer, estimate_usd=estimate_usd, **run_fields)
    record_budget_events(ledger, run, check)
    if check.crossed:
        from labctl import alerts

        try:  # a delivery problem is a warning: the run is reserved and `up` must go on
            alerts.deliver(ledger, team(cat), engineer=engineer, month=f"{run.created_at:%Y-%m}",
                           crossed=check.crossed, spent_usd=check.after_usd,
                           budget_usd=check.budget_usd, why="projected", run=run)  # fmt: skip
        except Exception as exc:
            alerts.log.warning("warning: budget alert not delivered: %s", type(exc).__name__)
    return check, run


def record_budget_events(ledger: Ledger, run: Run, check: BudgetCheck) -> None:
    if check.forced:
        ledger.event(
            "budget-override",
            f"--force past the budget: ${check.after_usd:,.2f} of ${check.budget_usd:,.2f}",
            run=run,
            spent_usd=check.spent_usd,
            estimate_usd=check.estimate_usd,
            budget_usd=check.budget_usd,
        )
    for threshold in check.crossed:
        ledger.event(
            "budget-alert",
            f"crossing {threshold}% of the monthly budget",
            run=run,
            threshold=threshold,
        )
