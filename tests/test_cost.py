"""Spend: the report checked against hand-computed figures, estimates, budget enforcement."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from labctl import catalog, cost, spend_report, status
from labctl.errors import BudgetRefused
from labctl.ledger import Ledger
from labctl.ledger_queries import SqliteReader

NOW = datetime(2026, 11, 20, 12, 0)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def ledger(db, tmp_path, monkeypatch):
    team = tmp_path / "team.yaml"
    team.write_text(
        "team:\n  monthly_budget_usd: 300\n  engineers:\n    ana: {monthly_budget_usd: 10}\n"
    )
    monkeypatch.setenv("LABCTL_TEAM", str(team))
    led = Ledger(clock=lambda: NOW)

    def add(engineer, target, kind, price, count, start, stop=None, billable=None, spot=False):
        run = led.start_run(engineer=engineer, lab=f"lab-{kind}", target=target, workspace="/w")
        res = led.add_resource(
            run, kind=kind, name=kind, price_per_hour=price, instance_count=count, spot=spot
        )
        led.update_resource(res.id, started_at=at(start))
        if stop:
            led.close_resource(res.id, stopped_at=at(stop), billable_seconds=billable)

    add("ana", "aws", "endpoint", 0.115, 1, "2026-11-20T02:00")  # open: 10 h so far
    add("ana", "aws", "training-job", 0.23, 1, "2026-11-19T00:00", "2026-11-19T05:00", 1800)
    add("ana", "aws", "model", 1.0, 2, "2026-10-31T20:00", "2026-11-01T04:00")  # 4 h in Nov
    add("ana", "aws", "batch-job", 5.0, 1, "2026-10-10T00:00", "2026-10-11T00:00")  # October
    add("bob", "local", "endpoint", 0.115, 1, "2026-11-20T02:00")  # $0, 1.15 equivalent
    add(
        "bob", "aws", "tuning-job", 3.825, 2, "2026-11-05T00:00", "2026-11-05T03:00", 600, spot=True
    )
    add("carol", "gcp", "training-job", 1.0, 1, "2026-10-31T23:00", "2026-11-01T02:00", 7200)
    add("dave", "aws", "endpoint", None, 1, "2026-11-20T02:00")  # unpriced
    return led


def test_report_matches_hand_computed_figures(ledger):
    rep = spend_report.report(ledger, None, now=NOW)
    by = {e["engineer"]: e for e in rep["engineers"]}
    ana = by["ana"]
    assert ana["budget_usd"] == 10
    assert ana["running_usd"] == pytest.approx(1.15)
    assert ana["closed_usd"] == pytest.approx(0.115 + 8.0)
    assert ana["spent_usd"] == pytest.approx(9.265)
    assert ana["percent"] == pytest.approx(92.65)
    assert ana["level"] == "75"
    assert ana["burn_usd_per_hour"] == pytest.approx(0.115)
    assert ana["forecast_usd"] == pytest.approx(9.265 + 0.115 * 252)  # 10.5 days left
    bob = by["bob"]
    assert bob["spent_usd"] == pytest.approx(3.825 * 2 * 600 / 3600)
    assert bob["local_equivalent_usd"] == pytest.approx(1.15)
    assert bob["level"] == "ok" and bob["budget_usd"] == 300
    assert by["carol"]["spent_usd"] == 0  # billed in October, when it started
    assert rep["unpriced_resources"] == 1
    assert rep["unpriced"] == ["dave lab-endpoint endpoint endpoint"]  # named, not just counted
    assert rep["total_spent_usd"] == pytest.approx(9.265 + 1.275)


def test_report_for_october_and_one_engineer(ledger):
    rep = spend_report.report(ledger, None, month="2026-10", engineer="ana", now=NOW)
    (ana,) = rep["engineers"]
    assert ana["spent_usd"] == pytest.approx(5.0 * 24 + 1.0 * 2 * 4)
    assert ana["burn_usd_per_hour"] == 0 and ana["forecast_usd"] == ana["spent_usd"]


def test_budget_check_refuses_and_force_records(ledger):
    cat = catalog.load()
    with pytest.raises(BudgetRefused) as info:
        cost.check_budget(ledger, cat, "ana", 5.0, now=NOW)
    assert info.value.exit_code == 3
    assert "$10.00" in info.value.message
    check = cost.check_budget(ledger, cat, "ana", 5.0, force=True, now=NOW)
    assert check.forced and check.over
    assert cost.check_budget(ledger, cat, "bob", 1.0, now=NOW).crossed == []


def test_estimate_prices_every_step_of_churn_on_aws():
    from labctl.prices import PriceBook

    lab = catalog.load().lab("churn-pipeline")
    e = cost.estimate(lab, "aws", "us-east-1", PriceBook.load())
    kinds = {line.kind for line in e.lines}
    assert {"train", "tune", "deploy"} <= kinds
    assert e.total_usd > 0 and not [u for u in e.unpriced if "train" in u]
    local = cost.estimate(lab, "local", None, PriceBook.load())
    # the local target runs no service components: its cloud equivalent is the ML steps'
    ml_steps = sum(line.usd or 0 for line in e.lines if line.kind != "service")
    assert local.total_usd == 0 and local.equivalent_usd == pytest.approx(ml_steps)
    assert {"firehose-ingest", "glue-etl"} <= {line.step for line in e.lines}  # components


def test_spot_saving_on_vertex_not_on_databricks():
    from labctl.prices import PriceBook

    prices = PriceBook.load()
    rec = catalog.load().lab("movie-recommender")
    train = next(line for line in cost.estimate(rec, "gcp", None, prices).lines
                 if line.step == "train-recommender")  # fmt: skip
    # n1-standard-8 at $0.437/h, 20 min expected, 60 % spot saving
    assert train.hours == pytest.approx(20 / 60 * 0.4, abs=1e-4)  # rounded to 4 places
    assert train.usd == pytest.approx(0.437 * 20 / 60 * 0.4, abs=1e-4)
    dbx = catalog.load().lab("distributed-tuning")
    single = next(line for line in cost.estimate(dbx, "databricks", None, prices).lines
                  if line.step == "train-single-node")  # fmt: skip
    assert single.hours == pytest.approx(20 / 60, abs=1e-4)  # DBUs bill in full: no saving assumed


def test_monitoring_is_priced_per_gb_on_vertex_and_per_job_hour_on_aws():
    from labctl.prices import PriceBook

    prices = PriceBook.load()
    rec = catalog.load().lab("movie-recommender")
    [gcp] = [line for line in cost.estimate(rec, "gcp", None, prices).lines
             if line.kind == "monitor"]  # fmt: skip
    assert gcp.usd and gcp.usd > 0 and "/GB analysed" in gcp.note  # Model Monitoring v2
    churn = catalog.load().lab("churn-pipeline")
    [aws] = [line for line in cost.estimate(churn, "aws", None, prices).lines
             if line.kind == "monitor"]  # fmt: skip
    assert aws.usd and aws.usd > 0


def test_concurrent_ups_cannot_both_squeeze_under_one_budget(db, tmp_path, monkeypatch):
    """Two engineers' sessions racing for the last $30 of a $50 budget: exactly one wins."""
    import threading

    team = tmp_path / "team50.yaml"
    team.write_text("team:\n  monthly_budget_usd: 50\n")
    monkeypatch.setenv("LABCTL_TEAM", str(team))
    cat = catalog.load()
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        ledger = Ledger()
        barrier.wait()
        try:
            cost.reserve(
                ledger,
                cat,
                engineer="erin",
                estimate_usd=30.0,
                lab="churn-pipeline",
                target="aws",
                workspace="/w",
            )
            outcomes.append("up")
        except BudgetRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "refused", "refused", "up"]
    assert len(Ledger().active_runs(engineer="erin")) == 1


def test_up_over_budget_exits_3_and_force_is_recorded(cli, home, tmp_path, monkeypatch):
    """Team budget $50 with $49.90 spent (any estimate passes it, even priced to the end of the
    month's last day): `up --target aws` is refused with the three numbers;
    --force goes ahead (here it then stops at terraform init: no registry) and is recorded."""
    from datetime import timedelta

    from labctl.ledger import utcnow

    team = tmp_path / "team.yaml"
    team.write_text("team:\n  monthly_budget_usd: 50\n")
    monkeypatch.setenv("LABCTL_TEAM", str(team))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    ledger = Ledger()
    run = ledger.start_run(engineer="tester@example.com", lab="fraud-detection", target="aws",
                           workspace="/w")  # fmt: skip
    res = ledger.add_resource(run, kind="endpoint", name="old", price_per_hour=49.9)
    now = utcnow()  # the CLI reads the same (real or --frozen-now) clock
    start = max(now - timedelta(hours=2), now.replace(day=1, hour=0, minute=0, second=0))
    ledger.update_resource(res.id, started_at=start)
    ledger.close_resource(res.id, stopped_at=start + timedelta(hours=1))
    ledger.update_run(run.id, status="down", ended_at=start + timedelta(hours=1))

    refused = cli("up", "churn-pipeline", "--target", "aws")
    assert refused.code == 3, refused.stderr
    assert (
        "$49.90" in refused.stderr and "$50.00" in refused.stderr and "estimate $" in refused.stderr
    )
    assert not Ledger().events(kind="budget-override")

    forced = cli("up", "churn-pipeline", "--target", "aws", "--force")
    assert forced.code != 3 and "Traceback" not in forced.stderr
    (event,) = Ledger().events(kind="budget-override")
    assert event.data["budget_usd"] == 50
    assert event.data["spent_usd"] == pytest.approx(49.9, abs=0.01)
    assert Ledger().active_runs(engineer="tester@example.com") == []  # nothing was left open


# --- budgets mean the same everywhere (issue 11 item 3) ------------------------------------------


@pytest.mark.parametrize("thresholds", [[50, 75], [50, 75, 100, 120], [90]])
def test_over_budget_is_at_or_over_100_percent_whatever_the_thresholds(
    db, tmp_path, monkeypatch, thresholds
):
    team = tmp_path / "team.yaml"
    team.write_text(f"team:\n  monthly_budget_usd: 10\n  alert_thresholds: {thresholds}\n")
    monkeypatch.setenv("LABCTL_TEAM", str(team))
    led = Ledger(clock=lambda: NOW)
    for engineer, price in (("over", 12.0), ("exact", 10.0), ("under", 9.99)):
        run = led.start_run(engineer=engineer, lab="l", target="aws", workspace="/w")
        res = led.add_resource(run, kind="training-job", name="j", price_per_hour=price)
        led.close_resource(res.id, stopped_at=NOW, billable_seconds=3600)
    by = {e["engineer"]: e for e in spend_report.report(led, None, now=NOW)["engineers"]}
    assert by["over"]["over_budget"] and by["over"]["level"] == "100"
    assert by["exact"]["over_budget"] and by["exact"]["level"] == "100"
    assert not by["under"]["over_budget"] and by["under"]["level"] == "75"
    assert by["over"]["crossed"] == [t for t in thresholds if t <= 120]
    with pytest.raises(BudgetRefused):  # `up` refuses what `cost enforce` would tear down
        cost.check_budget(led, None, "under", 0.01, now=NOW)


def test_enforce_tears_down_an_engineer_over_budget_without_a_100_threshold(
    db, tmp_path, monkeypatch
):
    from datetime import timedelta

    from labctl import orchestrator
    from labctl.ledger import utcnow

    team = tmp_path / "team.yaml"
    team.write_text("team:\n  monthly_budget_usd: 10\n  alert_thresholds: [50, 75]\n")
    monkeypatch.setenv("LABCTL_TEAM", str(team))
    led = Ledger()
    now = utcnow()  # enforcement_plan reads the (real or --frozen-now) clock
    start = max(now - timedelta(hours=1), now.replace(day=1, hour=0, minute=0, second=0))
    run = led.start_run(engineer="ana@example.com", lab="churn-pipeline", target="aws",
                        workspace="/w")  # fmt: skip
    job = led.add_resource(run, kind="training-job", name="j", price_per_hour=20.0)
    led.update_resource(job.id, started_at=start)
    led.close_resource(job.id, stopped_at=start, billable_seconds=3600)
    endpoint = led.add_resource(run, kind="endpoint", name="ep", price_per_hour=1.0)
    items, reasons = orchestrator.enforcement_plan(catalog=None)
    assert [i.resource.id for i in items if i.resource] == [endpoint.id]
    assert reasons and reasons[0].startswith("ana@example.com: $20.00 of $10.00")


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ("monthly_budget_usd: 0", "greater than 0"),
        ("monthly_budget_usd: -5", "greater than 0"),
        ("monthly_budget_usd: '300'", "valid number"),
        ("monthly_budget_usd: 1.0e+30", "less than or equal"),
        ("alert_thresholds: [75, 50]", "strictly increasing"),
        ("alert_thresholds: [50, 50]", "strictly increasing"),
        ("alert_thresholds: [0, 50]", "greater than 0"),
        ("engineers: {ana: {monthly_budget_usd: 0}}", "engineers.ana"),
        ("engineers: {Ana@x.io: {monthly_budget_usd: 5}, ana@x.io: {monthly_budget_usd: 9}}",
         "listed twice"),
    ],
)  # fmt: skip
def test_bad_budgets_and_thresholds_are_rejected(home, tmp_path, monkeypatch, section, needle):
    from labctl.errors import CatalogError

    team = tmp_path / "team.yaml"
    team.write_text(f"team:\n  {section}\n")
    monkeypatch.setenv("LABCTL_TEAM", str(team))
    with pytest.raises(CatalogError, match=needle):
        cost.team(None)


def test_engineer_budgets_ignore_the_identity_case(home, tmp_path, monkeypatch):
    team = tmp_path / "team.yaml"
    team.write_text("team:\n  engineers: {Ana@X.io: {monthly_budget_usd: 42}}\n")
    monkeypatch.setenv("LABCTL_TEAM", str(team))
    assert cost.team(None).budget_for("ana@x.io") == 42


def test_the_stdlib_reader_gives_the_ledgers_figures(ledger):
    """`cost report` and `status` read a SQLite ledger without SQLAlchemy: same SQL, same
    figures, same types (times, JSON, paths) as through the `Ledger`."""
    if ledger.dialect != "sqlite":
        pytest.skip("the stdlib reader reads SQLite ledgers only")
    reader = SqliteReader.at_head(Path(ledger.url.removeprefix("sqlite:///")))
    assert reader is not None
    for month, who in ((None, None), ("2026-10", "ana"), (None, "dave")):
        assert spend_report.report(
            reader, None, month=month, engineer=who, now=NOW
        ) == spend_report.report(ledger, None, month=month, engineer=who, now=NOW)
    views = status.runs(engineer=None, reader=reader, now=NOW)
    assert views == status.runs(engineer=None, reader=ledger, now=NOW)
    assert {v["engineer"] for v in views} == {"ana", "bob", "carol", "dave"}


def test_a_ledger_behind_head_is_left_to_the_ledger_to_migrate(ledger):
    if ledger.dialect != "sqlite":
        pytest.skip("the stdlib reader reads SQLite ledgers only")
    db = Path(ledger.url.removeprefix("sqlite:///"))
    with ledger.session() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    assert SqliteReader.at_head(db) is None
    assert SqliteReader.at_head(db.with_name("missing.db")) is None
