"""The ledger: migrations, write-before-create, intervals."""

from __future__ import annotations

from datetime import timedelta

from alembic.config import Config
from alembic.script import ScriptDirectory

from labctl import paths
from labctl.ledger import HEAD, Ledger, utcnow


def test_head_matches_the_migration_scripts():
    cfg = Config()
    cfg.set_main_option("script_location", str(paths.PACKAGE_DIR / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_resource_is_open_until_closed_and_costs_its_interval(db):
    ledger = Ledger()
    run = ledger.start_run(engineer="ana", lab="churn-pipeline", target="aws", workspace="/w")
    res = ledger.add_resource(
        run,
        kind="endpoint",
        name="ep",
        instance_type="ml.m5.large",
        instance_count=2,
        price_per_hour=0.115,
    )
    assert [r.id for r in ledger.open_resources(run.id)] == [res.id]
    start = utcnow() - timedelta(hours=3)
    ledger.update_resource(res.id, started_at=start)
    ledger.close_resource(res.id, stopped_at=start + timedelta(hours=2))
    ledger.close_resource(res.id, status="deleted")  # idempotent: keeps the first end
    (closed,) = ledger.run_resources(run.id)
    assert closed.stopped_at == start + timedelta(hours=2)
    assert abs(closed.cost() - 0.115 * 2 * 2) < 1e-9
    assert ledger.open_resources(run.id) == []


def test_billable_seconds_win_over_the_interval(db):
    ledger = Ledger()
    run = ledger.start_run(engineer="ana", lab="l", target="aws", workspace="/w")
    res = ledger.add_resource(run, kind="training-job", name="j", price_per_hour=0.23, spot=True)
    ledger.close_resource(res.id, status="Completed", billable_seconds=1800)
    (job,) = ledger.run_resources(run.id)
    assert abs(job.cost() - 0.115) < 1e-9


def test_reopening_a_ledger_keeps_its_rows(db):
    run = Ledger().start_run(engineer="ana", lab="l", target="local", workspace="/w")
    assert [r.id for r in Ledger().active_runs(engineer="ana")] == [run.id]
