"""`labctl status` shows each run's autostop deadline (issue 13 item 3), in JSON and the table."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime

import pytest
from rich.console import Console

from labctl import status, views
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

    runs = {r["lab"]: r for r in status.runs(engineer="tester@example.com", now=deadline)}
    assert runs["churn-pipeline"]["autostop_at"] == "2026-12-01T19:00:00Z"
    assert runs["fraud-detection"]["autostop_at"] is None
    assert runs["churn-pipeline"]["cost_usd"] == 1.5  # the cost so far (issue 13 item 3)
    assert runs["fraud-detection"]["cost_usd"] == 0

    buf = io.StringIO()  # a pipe: plain columns
    views.print_status(Console(file=buf, width=200), list(runs.values()))
    text = buf.getvalue()
    assert "up, autostop 19:00 UTC, $1.50 so far" in text
    assert text.count("autostop") == 1 and "up, $0.00 so far" in text


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["cost", "report"]])
def test_status_and_report_do_not_import_sqlalchemy(home, command):
    """What keeps them within 4x a bare CLI's start-up (bench/cli_speed.py): a SQLite ledger at
    the schema head, with a local run and a cloud run in it, is read with the stdlib."""
    ledger = Ledger()
    for target in ("local", "aws"):
        run = ledger.start_run(engineer="tester@example.com", lab="churn-pipeline",
                               target=target, workspace=str(home / "ws"))  # fmt: skip
        ledger.update_run(run.id, status="up")
        ledger.add_resource(run, kind="endpoint", name="ep", price_per_hour=0.115,
                            attrs={"token": "t-none", "url": "http://127.0.0.1:1/"})  # fmt: skip
    probe = (
        "import sys; sys.argv = ['labctl', *sys.argv[1:]]\n"
        "from labctl.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print('LOADED', sorted(m for m in ('sqlalchemy', 'alembic', 'numpy', 'pandas', "
        "'labctl.orchestrator', 'labctl.backends.local.backend') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout
    assert "http://127.0.0.1:1/" in proc.stdout or command[0] == "cost"
