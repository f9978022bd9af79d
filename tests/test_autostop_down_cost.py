"""`down` says what each run cost (issue 13 item 3): the ledger's figure, and the bill's where
`labctl cost sync` covers the run. The CLI side (table and --json) is in test_autostop_start."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest
from rich.console import Console

from labctl import run_cost, views
from labctl.ledger import BilledCost, BillingSync, Ledger

NOW = datetime(2026, 12, 3, 12, 0)
ANA = "ana@example.com"


@pytest.fixture
def ledger(home):
    """ana's churn-pipeline on aws: a $0.115/h endpoint up Dec 1 08:00 - Dec 2 08:00 (24 h,
    $2.76) and a $4 training job; the run was planned at $3.50 and ended Dec 2 08:00."""
    led = Ledger(clock=lambda: NOW)
    run = led.start_run(engineer=ANA, lab="churn-pipeline", target="aws", workspace="/w",
                        estimate_usd=3.5)  # fmt: skip
    led.update_run(run.id, created_at=datetime(2026, 12, 1, 7, 0))
    endpoint = led.add_resource(run, kind="endpoint", name="ep", instance_type="ml.m5.large",
                                price_per_hour=0.115)  # fmt: skip
    led.update_resource(endpoint.id, started_at=datetime(2026, 12, 1, 8, 0))
    led.close_resource(endpoint.id, stopped_at=datetime(2026, 12, 2, 8, 0))
    job = led.add_resource(run, kind="training-job", name="job", instance_type="ml.m5.xlarge",
                           price_per_hour=0.23, billable_seconds=4 / 0.23 * 3600)  # fmt: skip
    led.close_resource(job.id, stopped_at=datetime(2026, 12, 1, 9, 0))
    led.add_resource(run, kind="model", name="unpriced-model", instance_type="ml.x.odd")
    led.update_run(run.id, status="down", ended_at=datetime(2026, 12, 2, 8, 0))
    return led, led.get_run(run.id)


def test_a_run_costs_its_resources_at_their_launch_prices(ledger):
    led, run = ledger
    cost = run_cost.of_run(led, run, NOW)
    assert cost["estimated_usd"] == pytest.approx(2.76 + 4.0)
    assert cost["planned_usd"] == 3.5 and cost["hours"] == 25
    assert cost["unpriced"] == ["model unpriced-model"]
    assert cost["billed_usd"] is None and cost["billed_through"] is None  # never synced


def sync(led: Ledger, target: str, lo: date, hi: date, rows: list[tuple[str, str, date, float]]):
    with led.session() as s:
        s.add(BillingSync(target=target, month=f"{lo:%Y-%m}", covered_from=lo, covered_until=hi,
                          source="test", rows=len(rows), total_usd=sum(r[3] for r in rows),
                          synced_at=NOW))  # fmt: skip
        for engineer, lab, day, usd in rows:
            s.add(BilledCost(target=target, day=day, engineer=engineer, engineer_tag=engineer,
                             lab=lab, amount=usd, currency="USD", amount_usd=usd,
                             source="test", synced_at=NOW))  # fmt: skip


def test_the_bill_counts_for_the_run_s_lab_and_days_as_far_as_it_is_synced(ledger):
    led, run = ledger
    dec = date(2026, 12, 1)
    sync(led, "aws", dec, dec + timedelta(days=1), [  # the bill covers Dec 1 only
        (ANA, "churn-pipeline", dec, 5.25),
        (ANA, "fraud-detection", dec, 9.0),  # another lab
        ("bob@example.com", "churn-pipeline", dec, 7.0),  # another engineer
    ])  # fmt: skip
    sync(led, "gcp", dec, dec + timedelta(days=2), [(ANA, "churn-pipeline", dec, 11.0)])
    cost = run_cost.of_run(led, run, NOW)
    assert cost["billed_usd"] == 5.25 and cost["billed_through"] == "2026-12-01"


def test_the_table_names_billed_and_not_synced_runs(ledger):
    led, run = ledger
    rows = run_cost.of_runs(led, [run.id, run.id, "gone"], NOW)
    assert len(rows) == 1
    local = {**rows[0], "target": "local", "cloud_equivalent": True, "run": "r-local"}
    billed = {**rows[0], "billed_usd": 5.25, "billed_through": "2026-12-01", "run": "r-billed"}
    buffer = io.StringIO()
    views.print_run_costs(Console(file=buffer, width=200), [rows[0], local, billed])
    text = buffer.getvalue()
    assert "What each run cost" in text and "$6.76" in text and "$3.50" in text
    assert "not synced" in text and "$0 (local)" in text and "cloud-equiv." in text
    assert "$5.25 (through 2026-12-01)" in text
