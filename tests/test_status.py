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
    without = ledger.start_run(
        engineer="tester@example.com", lab="fraud-detection", target="aws", workspace="/tmp/ws2"
    )
    ledger.update_run(without.id, status="up")

    runs = {r["lab"]: r for r in orchestrator.status(engineer="tester@example.com")}
    assert runs["churn-pipeline"]["autostop_at"] == "2026-12-01T19:00:00Z"
    assert runs["fraud-detection"]["autostop_at"] is None

    buf = io.StringIO()  # a pipe: plain columns
    views.print_status(Console(file=buf, width=200), list(runs.values()))
    text = buf.getvalue()
    assert "up, autostop 19:00 UTC" in text
    assert text.count("autostop") == 1
