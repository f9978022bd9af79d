"""`labctl status` shows each run's autostop deadline (issue 13 item 3), in JSON and the table."""

from __future__ import annotations

import io
from datetime import datetime

from rich.console import Console

from labctl import orchestrator, views
from labctl.ledger import Ledger


def test_status_shows_autostop_at(home):
    ledger = Ledger()
    deadline = datetime(2026, 12, 1, 19, 0)
    with_stop = ledger.start_run(
        engineer="tester@example.com",
        lab="churn-pipeline",
        target="aws",
        workspace="/tmp/ws",
        autostop_at=deadline,
    )
    ledger.update_run(with_stop.id, status="up")
    endpoint = ledger.add_resource(with_stop, kind="endpoint", name="ep", price_per_hour=0.5)
    ledger.update_resource(endpoint.id, started_at=datetime(2026, 12, 1, 9, 0))
    ledger.close_resource(endpoint.id, stopped_at=datetime(2026, 12, 1, 12, 0))
    without = ledger.start_run(
        engineer="tester@example.com", lab="fraud-detection", target="aws", workspace="/tmp/ws2"
    )
    ledger.update_run(without.id, status="up")

    runs = {r["lab"]: r for r in orchestrator.status(engineer="tester@example.com")}
    assert runs["churn-pipeline"]["autostop_at"] == "2026-12-01T19:00:00Z"
    assert runs["fraud-detection"]["autostop_at"] is None
    assert runs["churn-pipeline"]["cost_usd"] == 1.5  # the cost so far (issue 13 item 3)
    assert runs["fraud-detection"]["cost_usd"] == 0

    buf = io.StringIO()  # a pipe: plain columns
    views.print_status(Console(file=buf, width=200), list(runs.values()))
    text = buf.getvalue()
    assert "up, autostop 19:00 UTC, $1.50 so far" in text
    assert text.count("autostop") == 1 and "up, $0.00 so far" in text
