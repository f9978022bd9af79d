"""Budget alerts delivered: a webhook POST (Slack-compatible `text`) and email over SMTP.

An alert is delivered once per engineer, month, threshold and channel: each success is a
`budget-alert-sent` event in the ledger, checked under the engineer's lock before sending, so a
second `labctl cost enforce` (or `up`) sends nothing. A failure is a warning (logged, and a
`budget-alert-failed` event) and is retried by the next run; it never blocks `up`.

Settings: the team section's `alerts:` (emails, webhook, smtp host/port/from/starttls), with
`LABCTL_ALERT_WEBHOOK`, `LABCTL_SMTP_HOST`, `LABCTL_SMTP_PORT`, `LABCTL_SMTP_FROM` and
`LABCTL_SMTP_STARTTLS` on top; the SMTP login only from `LABCTL_SMTP_USER` and
`LABCTL_SMTP_PASSWORD`. Nothing secret is logged or stored: webhook URLs (Slack's carry a token)
appear as scheme://host only.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from labctl.cost import Team
    from labctl.ledger import Ledger, Run

log = logging.getLogger("labctl.alerts")
TIMEOUT_SECONDS = 10.0
SENT, FAILED = "budget-alert-sent", "budget-alert-failed"


@dataclass
class Alert:
    engineer: str
    month: str  # YYYY-MM
    threshold: int  # the highest level newly crossed
    spent_usd: float
    budget_usd: float
    why: str = "spent"  # "spent" (the report) or "projected" (`up` with this run's estimate)

    @property
    def percent(self) -> float:
        return self.spent_usd / self.budget_usd * 100 if self.budget_usd else 0.0

    @property
    def text(self) -> str:
        verb = "has spent" if self.why == "spent" else "is projected, with the lab just started, at"
        return (
            f"labctl: {self.engineer} {verb} ${self.spent_usd:,.2f} of the ${self.budget_usd:,.2f} "
            f"lab budget for {self.month} ({self.percent:.0f}%), past the {self.threshold}% alert. "
            f"`labctl cost report --engineer {self.engineer}` shows where it went."
        )

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "engineer": self.engineer, "month": self.month,
                "threshold": self.threshold, "spent_usd": round(self.spent_usd, 2),
                "budget_usd": self.budget_usd, "percent": round(self.percent, 1)}  # fmt: skip


@dataclass
class Delivery:
    channel: str  # webhook | email
    engineer: str
    month: str
    thresholds: list[int]
    ok: bool
    detail: str  # where it went (no secrets), or why it failed

    def to_dict(self) -> dict[str, Any]:
        return vars(self)


# --- settings -----------------------------------------------------------------------------------


def webhook_url(team: Team) -> str | None:
    return os.environ.get("LABCTL_ALERT_WEBHOOK") or team.alerts.webhook


def recipients(team: Team, engineer: str) -> list[str]:
    people = list(team.alerts.emails)
    if team.alerts.notify_engineer and "@" in engineer and engineer not in people:
        people.append(engineer)
    return people


def channels(team: Team, engineer: str) -> list[str]:
    """The channels configured for this engineer's alerts (email needs an SMTP host too)."""
    found = ["webhook"] if webhook_url(team) else []
    smtp_host = os.environ.get("LABCTL_SMTP_HOST") or team.alerts.smtp.host
    if smtp_host and recipients(team, engineer):
        found.append("email")
    return found


def redact(url: str) -> str:
    """scheme://host of a URL: webhook paths and queries often are the secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/..."


# --- delivery -----------------------------------------------------------------------------------


def deliver(
    ledger: Ledger, team: Team, *, engineer: str, month: str, crossed: list[int],
    spent_usd: float, budget_usd: float, why: str = "spent", run: Run | None = None,
) -> list[Delivery]:  # fmt: skip
    """Send the alert for the thresholds in `crossed` not yet delivered on each channel."""
    wanted = channels(team, engineer)
    if not crossed or not wanted:
        return []
    results: list[Delivery] = []
    with ledger.engineer_lock(engineer):
        done = {(e.data.get("threshold"), e.data.get("channel"))
                for e in ledger.events(kind=SENT, engineer=engineer)
                if e.data.get("month") == month}  # fmt: skip
        for channel in wanted:
            new = sorted(th for th in set(crossed) if (th, channel) not in done)
            if not new:
                continue
            alert = Alert(engineer, month, new[-1], spent_usd, budget_usd, why)
            try:
                detail = (
                    _send_webhook(team, alert) if channel == "webhook" else _send_email(team, alert)
                )
            except _DeliveryError as exc:
                log.warning("warning: budget alert for %s by %s not delivered: %s",
                            engineer, channel, exc)  # fmt: skip
                ledger.event(FAILED, f"{channel}: {exc}", run=run, engineer=engineer,
                             month=month, thresholds=new, channel=channel)  # fmt: skip
                results.append(Delivery(channel, engineer, month, new, False, str(exc)))
                continue
            for th in new:
                ledger.event(
                    SENT, f"{th}% alert sent by {channel} to {detail}", run=run,
                    engineer=engineer, month=month, threshold=th, channel=channel,
                )  # fmt: skip
            results.append(Delivery(channel, engineer, month, new, True, detail))
    return results


def deliver_report(ledger: Ledger, team: Team, report: dict[str, Any]) -> list[Delivery]:
    """Deliver what the cost report's levels say is due (what `labctl cost enforce` runs)."""
    results: list[Delivery] = []
    for e in report["engineers"]:
        results += deliver(ledger, team, engineer=e["engineer"], month=report["month"],
                           crossed=e["crossed"], spent_usd=e["spent_usd"],
                           budget_usd=e["budget_usd"])  # fmt: skip
    return results


class _DeliveryError(Exception):
    """A channel could not deliver; the message holds no secret."""


def _send_webhook(team: Team, alert: Alert) -> str:
    url = webhook_url(team) or ""
    where = redact(url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise _DeliveryError(f"webhook {where}: not an http(s) URL")
    body = json.dumps(alert.payload()).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "labctl"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        raise _DeliveryError(f"webhook {where} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _DeliveryError(f"webhook {where} unreachable: {reason}") from None
    if not 200 <= status < 300:
        raise _DeliveryError(f"webhook {where} answered HTTP {status}")
    return where


def _send_email(team: Team, alert: Alert) -> str:
    smtp = team.alerts.smtp
    env = os.environ
    host = env.get("LABCTL_SMTP_HOST") or smtp.host or ""
    try:
        port = int(env.get("LABCTL_SMTP_PORT") or smtp.port)
    except ValueError:
        raise _DeliveryError("LABCTL_SMTP_PORT is not a number") from None
    starttls = smtp.starttls
    if env.get("LABCTL_SMTP_STARTTLS"):
        starttls = env["LABCTL_SMTP_STARTTLS"].strip().lower() not in ("0", "false", "no", "off")
    sender = env.get("LABCTL_SMTP_FROM") or smtp.sender or f"labctl@{host}"
    user, password = env.get("LABCTL_SMTP_USER"), env.get("LABCTL_SMTP_PASSWORD")
    to = recipients(team, alert.engineer)
    msg = EmailMessage()
    msg["Subject"] = f"labctl: {alert.engineer} past {alert.threshold}% of the {alert.month} budget"
    msg["From"], msg["To"] = sender, ", ".join(to)
    msg.set_content(alert.text + "\n")
    context = ssl.create_default_context()
    try:
        if port == 465:  # implicit TLS
            conn: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS,
                                                  context=context)  # fmt: skip
        else:
            conn = smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
        with conn:
            conn.ehlo()
            if port != 465 and starttls:
                if not conn.has_extn("starttls"):
                    raise _DeliveryError(
                        f"SMTP {host}:{port} offers no STARTTLS (set LABCTL_SMTP_STARTTLS=0 for a "
                        "relay that needs none; a password is never sent without TLS)"
                    )
                conn.starttls(context=context)
                conn.ehlo()
            if user and password:
                if port != 465 and not starttls:
                    raise _DeliveryError("refusing to send the SMTP password without TLS")
                conn.login(user, password)
            conn.send_message(msg)
    except _DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError:
        raise _DeliveryError(f"SMTP {host}:{port} refused the login of $LABCTL_SMTP_USER") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise _DeliveryError(f"SMTP {host}:{port}: {exc}") from None
    return ", ".join(to)
