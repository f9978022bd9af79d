"""Budget alerts delivered for real: a local HTTP server receives the webhook, a small in-process
SMTP server receives the email; each (engineer, month, threshold, channel) is sent once."""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from labctl import alerts, catalog, cost, spend_report
from labctl.ledger import Ledger, utcnow

SECRET_PATH = "/services/T000/B000/s3cr3t-token"


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received, server.status = [], 200
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


class _Smtp(socketserver.StreamRequestHandler):
    """Enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT (no STARTTLS, no AUTH)."""

    def handle(self) -> None:
        def say(line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        say("220 test ESMTP")
        sender, rcpts = "", []
        while line := self.rfile.readline().decode().rstrip("\r\n"):
            verb = line.split(" ", 1)[0].upper()
            self.server.verbs.append(verb)
            if verb in ("EHLO", "HELO"):
                say("250-test")
                say("250 8BITMIME")
            elif verb == "MAIL":
                sender = line.split(":", 1)[1].strip(" <>")
                say("250 ok")
            elif verb == "RCPT":
                rcpts.append(line.split(":", 1)[1].strip(" <>"))
                say("250 ok")
            elif verb == "DATA":
                say("354 end with .")
                data = []
                while (chunk := self.rfile.readline().decode()) not in (".\r\n", ""):
                    data.append(chunk)
                self.server.mail.append((sender, rcpts, "".join(data)))
                sender, rcpts = "", []
                say("250 queued")
            elif verb in ("RSET", "NOOP"):
                say("250 ok")
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say("502 not implemented")


@pytest.fixture
def smtp():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.daemon_threads = True
    server.mail, server.verbs = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def team_file(tmp_path, monkeypatch, webhook, smtp):
    """Budget $10; alerts to a webhook whose path is a secret token, and to the lead by email."""
    port = smtp.server_address[1]
    path = tmp_path / "team.yaml"
    path.write_text(
        "team:\n  monthly_budget_usd: 10\n  alerts:\n    emails: [lead@example.com]\n"
        f"    webhook: http://127.0.0.1:{webhook.server_address[1]}{SECRET_PATH}\n"
        f"    smtp: {{host: 127.0.0.1, port: {port}, from: labctl@example.com, starttls: false}}\n"
    )
    monkeypatch.setenv("LABCTL_TEAM", str(path))
    for var in ("LABCTL_ALERT_WEBHOOK", "LABCTL_SMTP_HOST", "LABCTL_SMTP_PORT",
                "LABCTL_SMTP_STARTTLS", "LABCTL_SMTP_USER", "LABCTL_SMTP_PASSWORD"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    return path


def _spend(ledger: Ledger, engineer: str, usd: float) -> None:
    """A closed $usd endpoint-hour an hour ago, this month (or at its start on the 1st)."""
    run = ledger.start_run(engineer=engineer, lab="churn-pipeline", target="aws", workspace="/w")
    res = ledger.add_resource(run, kind="endpoint", name="ep", price_per_hour=usd)
    start = max(utcnow() - timedelta(hours=1), utcnow().replace(day=1, hour=0, minute=0))
    ledger.update_resource(res.id, started_at=start)
    ledger.close_resource(res.id, stopped_at=start + timedelta(hours=1))


def test_up_crossing_delivers_webhook_and_email_once_per_level(db, team_file, webhook, smtp):
    ledger, cat = Ledger(), catalog.load()
    month = f"{utcnow():%Y-%m}"

    def up(estimate: float):
        return cost.reserve(ledger, cat, engineer="ana@example.com", estimate_usd=estimate,
                            lab="churn-pipeline", target="aws", workspace="/w")[0]  # fmt: skip

    assert up(6.0).crossed == [50]  # $0 -> $6 of $10
    ((path, ctype, body),) = webhook.received
    assert path == SECRET_PATH and ctype == "application/json"
    assert body["threshold"] == 50 and body["engineer"] == "ana@example.com"
    assert body["month"] == month and body["spent_usd"] == 6.0 and body["percent"] == 60.0
    assert "past the 50% alert" in body["text"] and "$6.00 of the $10.00" in body["text"]
    ((sender, rcpts, data),) = smtp.mail
    assert sender == "labctl@example.com"
    assert rcpts == ["lead@example.com", "ana@example.com"]  # the engineer hears of it too
    message = email.message_from_string(data, policy=email.policy.default)
    assert message["Subject"] == f"labctl: ana@example.com past 50% of the {month} budget"
    assert "$6.00 of the $10.00" in message.get_content()

    assert up(1.0).crossed == []  # 60% -> 70%: nothing new
    assert up(1.0).crossed == [75]  # -> 80%
    assert [b["threshold"] for _, _, b in webhook.received] == [50, 75]
    assert len(smtp.mail) == 2

    sent = ledger.events(kind=alerts.SENT, engineer="ana@example.com")
    assert sorted((e.data["threshold"], e.data["channel"]) for e in sent) == [
        (50, "email"),
        (50, "webhook"),
        (75, "email"),
        (75, "webhook"),
    ]
    assert all("s3cr3t" not in e.message and "s3cr3t" not in json.dumps(e.data) for e in sent)

    # the report now says 0% spent (nothing ran yet) - nothing more to send
    assert alerts.deliver_report(ledger, cost.team(cat), spend_report.report(ledger, cat)) == []
    assert len(webhook.received) == 2


def test_enforce_sends_due_alerts_once(cli, db, team_file, webhook, smtp):
    """`labctl cost enforce` (cron): ana at 80% gets one alert naming 75% (50% is recorded too),
    bob at 20% none; the second run sends nothing."""
    ledger = Ledger()
    _spend(ledger, "ana@example.com", 8.0)
    _spend(ledger, "bob", 2.0)
    first = cli("cost", "enforce", "--yes")
    assert first.code == 0, first.stderr
    assert "alert 50%/75% for ana@example.com sent by webhook" in first.stderr
    assert "s3cr3t" not in first.stderr and "127.0.0.1" in first.stderr
    ((_, _, body),) = webhook.received
    assert body["threshold"] == 75 and body["spent_usd"] == 8.0
    assert len(smtp.mail) == 1
    second = cli("cost", "enforce", "--yes")
    assert second.code == 0 and "alert" not in second.stderr
    assert len(webhook.received) == 1 and len(smtp.mail) == 1


def test_failures_warn_are_recorded_and_retried(db, team_file, webhook, smtp, caplog):
    ledger, team = Ledger(), cost.team(None)
    month = f"{utcnow():%Y-%m}"
    webhook.status = 500
    out = alerts.deliver(ledger, team, engineer="ana@example.com", month=month, crossed=[50],
                         spent_usd=5.0, budget_usd=10.0)  # fmt: skip
    by = {d.channel: d for d in out}
    assert not by["webhook"].ok and "HTTP 500" in by["webhook"].detail
    assert by["email"].ok
    assert "s3cr3t" not in caplog.text and "not delivered" in caplog.text
    (failed,) = ledger.events(kind=alerts.FAILED)
    assert "s3cr3t" not in failed.message and failed.data["channel"] == "webhook"

    webhook.status = 200
    again = alerts.deliver(ledger, team, engineer="ana@example.com", month=month, crossed=[50],
                           spent_usd=5.0, budget_usd=10.0)  # fmt: skip
    assert [(d.channel, d.ok) for d in again] == [("webhook", True)]  # email was already sent
    assert len(smtp.mail) == 1 and len(webhook.received) == 2


def test_starttls_required_and_password_never_sent_in_clear(db, team_file, smtp, monkeypatch):
    ledger, team = Ledger(), cost.team(None)
    monkeypatch.setattr(team.alerts, "webhook", None)  # email only
    monkeypatch.setenv("LABCTL_SMTP_STARTTLS", "1")
    monkeypatch.setenv("LABCTL_SMTP_USER", "labctl")
    monkeypatch.setenv("LABCTL_SMTP_PASSWORD", "hunter2")
    (d,) = alerts.deliver(ledger, team, engineer="bob", month="2026-11", crossed=[100],
                          spent_usd=11.0, budget_usd=10.0)  # fmt: skip
    assert not d.ok and "STARTTLS" in d.detail
    assert "AUTH" not in smtp.verbs and not smtp.mail
    monkeypatch.setenv("LABCTL_SMTP_STARTTLS", "0")
    (d,) = alerts.deliver(ledger, team, engineer="bob", month="2026-11", crossed=[100],
                          spent_usd=11.0, budget_usd=10.0)  # fmt: skip
    assert not d.ok and "without TLS" in d.detail and "AUTH" not in smtp.verbs
    assert all("hunter2" not in e.message for e in ledger.events())


def test_bad_alert_settings_are_catalog_errors(home, tmp_path, monkeypatch):
    from labctl.errors import CatalogError

    path = tmp_path / "team.yaml"
    path.write_text("team:\n  alerts: {webhook: 'ftp://x', emails: [not-an-address]}\n")
    monkeypatch.setenv("LABCTL_TEAM", str(path))
    with pytest.raises(CatalogError) as info:
        cost.team(None)
    assert "alerts.webhook" in info.value.message and "not-an-address" in info.value.message
