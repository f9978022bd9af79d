"""Every endpoint's deadline: where it comes from (`--autostop`, else the team's study session),
and what it means for estimates (the hours an endpoint is priced for).

The team configuration (`team:` in labs.yaml or $LABCTL_TEAM, see `cost.Team`) sets::

    default_autostop: 8h                 # default; `none`: no default deadline (month end)
    study_day_end: "19:00 Europe/Paris"  # optional; a zoneinfo name, UTC when left out

A run's deadline is min(now + default_autostop, the next study_day_end) unless `--autostop`
is given (then now + that), or `--autostop none` (no deadline: priced to the end of the month,
and the choice is recorded in the ledger). Design choice: every function takes `now` (naive
UTC, as the ledger stores it); nothing here reads the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from labctl.ledger import iso_utc

if TYPE_CHECKING:
    from labctl.cost import Team

NONE = "none"
SHORT_SESSION = timedelta(minutes=30)  # a default deadline closer than this gets a warning
# what `--autostop` gives the orchestrator: seconds; NONE (no deadline); None (the team default)
Autostop = int | Literal["none"] | None
DAY_END = re.compile(r"(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?:\s+(?P<zone>\S+))?")


def parse_day_end(text: str) -> tuple[time, ZoneInfo]:
    """'19:00 Europe/Paris' -> (19:00, Europe/Paris); the zone defaults to UTC.

    Raises ValueError naming what is wrong (pydantic turns it into a team-file error)."""
    match = DAY_END.fullmatch(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a time of day such as '19:00 Europe/Paris'")
    name = match["zone"] or "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not a time zone name such as Europe/Paris") from None
    return time(int(match["h"]), int(match["m"])), zone


def next_day_end(now: datetime, day_end: tuple[time, ZoneInfo]) -> datetime:
    """The first study-day end strictly after `now` (naive UTC in, naive UTC out), in the
    zone's local time (so 19:00 Europe/Paris is 18:00 UTC in winter and 17:00 UTC in summer)."""
    at, zone = day_end
    local = now.replace(tzinfo=UTC).astimezone(zone)
    for days in (0, 1, 2):  # 2: a local time skipped by a DST change lands past `now` anyway
        candidate = datetime.combine(local.date() + timedelta(days=days), at, tzinfo=zone)
        utc = candidate.astimezone(UTC).replace(tzinfo=None)
        if utc > now:
            return utc
    raise AssertionError("unreachable: a day end within two days")


def format_duration(seconds: int) -> str:
    """3600 -> '1h', 5400 -> '1h30m', 90000 -> '1d1h' (as --autostop takes it)."""
    minutes = max(seconds // 60, 1) if seconds else 0
    hours, mins = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    text = (f"{days}d" if days else "") + (f"{hours}h" if hours else "")
    return text + (f"{mins}m" if mins or not text else "")


@dataclass(frozen=True)
class Deadline:
    """When a run's endpoints stop, and why then."""

    at: datetime | None  # naive UTC; None: no deadline (billed until `down`)
    source: str  # for people: "--autostop 2h", "team default_autostop 8h", ...
    choice: Literal["given", "default", "none"]  # how it was chosen (kept in the ledger)

    def to_dict(self) -> dict[str, Any]:
        return {
            "autostop_at": iso_utc(self.at),
            "autostop": self.source,
            "autostop_choice": self.choice,
        }

    def warning(self, now: datetime) -> str | None:
        """A default deadline too close to be useful (e.g. `up` minutes before the study day
        ends), said before anything bills."""
        if self.at is None or self.choice != "default" or self.at - now >= SHORT_SESSION:
            return None
        left = format_duration(int((self.at - now).total_seconds()))
        return (f"endpoints stop in {left}, at {iso_utc(self.at)} ({self.source}): "
                "pass --autostop 2h for a longer session")  # fmt: skip

    def describe(self) -> str:
        """One line for tables: what the estimate assumed."""
        if self.at is None:
            return f"endpoints priced until the month ends ({self.source})"
        return f"endpoints priced until {iso_utc(self.at)} ({self.source})"


def deadline_for(autostop: Autostop, team: Team, now: datetime) -> Deadline:
    """The deadline of endpoints started `now`: --autostop, else the team's study session."""
    if autostop == NONE:
        return Deadline(None, "--autostop none", "none")
    if autostop is not None:
        return Deadline(now + timedelta(seconds=autostop),
                        f"--autostop {format_duration(autostop)}", "given")  # fmt: skip
    options: list[tuple[datetime, str]] = []
    if team.default_autostop:
        session = format_duration(team.default_autostop)
        options.append((now + timedelta(seconds=team.default_autostop),
                        f"team default_autostop {session}"))  # fmt: skip
    if team.study_day_end:
        options.append((next_day_end(now, parse_day_end(team.study_day_end)),
                        f"team study_day_end {team.study_day_end}"))  # fmt: skip
    if not options:
        return Deadline(None, "the team sets no default_autostop", "default")
    at, source = min(options)
    return Deadline(at, source, "default")
