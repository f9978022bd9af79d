"""Every endpoint's deadline (issue 13 item 1-2): the team's study session, --autostop, none;
the estimate, `plan` and the budget check price endpoints up to it and name it.

The clock is always injected (`now=`, or the CLI started at an instant); nothing reads it."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from conftest import _BOOT, fake_adc

from labctl import catalog, cost
from labctl.autostop import NONE, deadline_for, format_duration, next_day_end, parse_day_end
from labctl.errors import CatalogError
from labctl.prices import PriceBook

FIRST = datetime(2026, 12, 1, 0, 30)  # the 1st of a month, 00:30 UTC: the worst day to price
TEAM = cost.Team()  # the defaults: default_autostop 8h, no study_day_end


def test_the_default_deadline_is_eight_hours_from_now():
    d = deadline_for(None, TEAM, FIRST)
    assert d.at == datetime(2026, 12, 1, 8, 30) and d.choice == "default"
    assert d.source == "team default_autostop 8h"


def test_the_study_day_end_wins_when_it_comes_first_in_its_own_zone():
    team = cost.Team(default_autostop="8h", study_day_end="19:00 Europe/Paris")
    winter = deadline_for(None, team, datetime(2026, 12, 1, 14, 0))  # 15:00 in Paris (UTC+1)
    assert winter.at == datetime(2026, 12, 1, 18, 0)
    assert winter.source == "team study_day_end 19:00 Europe/Paris"
    summer = deadline_for(None, team, datetime(2026, 7, 1, 14, 0))  # 16:00 in Paris (UTC+2)
    assert summer.at == datetime(2026, 7, 1, 17, 0)
    morning = deadline_for(None, team, datetime(2026, 12, 1, 6, 0))  # 8 h come first
    assert morning.at == datetime(2026, 12, 1, 14, 0) and "default_autostop" in morning.source


def test_a_default_deadline_minutes_away_is_warned_about():
    team = cost.Team(study_day_end="19:00 UTC")
    late = deadline_for(None, team, datetime(2026, 12, 1, 18, 50))
    assert late.warning(datetime(2026, 12, 1, 18, 50)) == (
        "endpoints stop in 10m, at 2026-12-01T19:00:00Z (team study_day_end 19:00 UTC): "
        "pass --autostop 2h for a longer session"
    )
    assert deadline_for(None, team, datetime(2026, 12, 1, 18, 0)).warning(
        datetime(2026, 12, 1, 18, 0)) is None  # fmt: skip
    assert deadline_for(600, team, FIRST).warning(FIRST) is None  # asked for: no warning


def test_after_the_day_end_the_next_one_is_tomorrow():
    day_end = parse_day_end("19:00 Europe/Paris")
    assert next_day_end(datetime(2026, 12, 1, 18, 0), day_end) == datetime(2026, 12, 2, 18, 0)
    assert next_day_end(datetime(2026, 12, 1, 17, 59), day_end) == datetime(2026, 12, 1, 18, 0)
    # the night Paris moves to summer time: 19:00 local on the 29th is 17:00 UTC
    assert next_day_end(datetime(2026, 3, 28, 20, 0), day_end) == datetime(2026, 3, 29, 17, 0)
    assert next_day_end(datetime(2026, 12, 1, 23, 0), parse_day_end("07:30")) == datetime(
        2026, 12, 2, 7, 30
    )


def test_autostop_given_or_none_overrides_the_team():
    team = cost.Team(default_autostop="8h", study_day_end="01:00 UTC")
    given = deadline_for(2 * 3600 + 1800, team, FIRST)
    assert given.at == datetime(2026, 12, 1, 3, 0) and given.source == "--autostop 2h30m"
    assert given.choice == "given"
    none = deadline_for(NONE, team, FIRST)
    assert none.at is None and none.choice == "none" and none.source == "--autostop none"
    assert none.to_dict() == {"autostop_at": None, "autostop": "--autostop none",
                              "autostop_choice": "none"}  # fmt: skip


def test_a_team_without_a_default_has_no_deadline():
    d = deadline_for(None, cost.Team(default_autostop="none"), FIRST)
    assert d.at is None and d.choice == "default"


def test_committed_hours_run_to_the_deadline_or_the_end_of_the_month():
    assert cost.committed_endpoint_hours(deadline_for(None, TEAM, FIRST), FIRST) == 8
    month_left = (datetime(2027, 1, 1) - FIRST).total_seconds() / 3600
    assert cost.committed_endpoint_hours(deadline_for(NONE, TEAM, FIRST), FIRST) == month_left


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("study_day_end", "19:00 Mars/Olympus", "not a time zone"),
        ("study_day_end", "25:00", "not a time of day"),
        ("default_autostop", "0h", "between 1m and 366d"),
        ("default_autostop", "soon", "not a duration"),
    ],
)
def test_bad_team_settings_are_refused_with_the_field(home, tmp_path, monkeypatch, field, value,
                                                      says):  # fmt: skip
    team = tmp_path / "team.yaml"
    team.write_text(f"team:\n  {field}: '{value}'\n")
    monkeypatch.setenv("LABCTL_TEAM", str(team))
    with pytest.raises(CatalogError) as exc:
        cost.team()
    assert field in str(exc.value) and says in str(exc.value)


def test_format_duration():
    assert [format_duration(s) for s in (60, 3600, 5400, 90000, 2 * 86400)] == [
        "1m", "1h", "1h30m", "1d1h", "2d",
    ]  # fmt: skip


def test_the_estimate_names_its_deadline_and_fits_the_default_budget_on_the_first():
    """Issue 13: on 1 December movie-recommender on gcp was priced to the month's end ($318)."""
    lab = catalog.load(None).lab("movie-recommender")
    deadline = deadline_for(None, TEAM, FIRST)
    e = cost.estimate(lab, "gcp", None, PriceBook.load(),
                      endpoint_hours=cost.committed_endpoint_hours(deadline, FIRST))  # fmt: skip
    e.deadline = deadline
    (endpoint,) = [line for line in e.lines if line.kind == "deploy"]
    assert endpoint.hours == 8
    assert e.total_usd < TEAM.monthly_budget_usd / 10
    assert e.to_dict()["autostop_at"] == "2026-12-01T08:30:00Z"
    assert e.to_dict()["autostop"] == "team default_autostop 8h"


def run_at(at: datetime, *args: str, env: dict | None = None):
    """The CLI as a user runs it, with its clock at `at` (naive UTC)."""
    import os

    proc = subprocess.run([sys.executable, "-c", _BOOT, at.isoformat(), *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})  # fmt: skip
    return proc


@pytest.fixture
def gcp_config(home, tmp_path):
    config = tmp_path / "labctl.toml"
    config.write_text('[gcp]\nproject = "lab-project"\n')  # else: refused, no project
    return {"LABCTL_CONFIG": str(config), **fake_adc(tmp_path)}  # else: refused, no credentials


def test_plan_on_the_first_passes_the_default_budget_and_names_the_deadline(gcp_config):
    import json

    args = ("plan", "movie-recommender", "--target", "gcp", "--no-terraform")
    table = run_at(FIRST, *args, env=gcp_config)
    assert table.returncode == 0, table.stdout + table.stderr
    assert "endpoints priced until 2026-12-01T08:30:00Z (team default_autostop 8h)" in table.stdout
    assert "would run within budget" in table.stdout
    data = json.loads(run_at(FIRST, *args, "--json", env=gcp_config).stdout)
    assert data["verdict"] == "ok" and not data["budget"]["over"]
    assert data["estimate"]["autostop_at"] == "2026-12-01T08:30:00Z"
    assert data["estimate"]["autostop_choice"] == "default"
    # `--autostop none` prices to the month's end: over the default $300, as before the fix
    none = run_at(FIRST, *args, "--autostop", "none", "--json", env=gcp_config)
    assert none.returncode == 3
    refused = json.loads(none.stdout)
    assert refused["verdict"] == "refused" and refused["estimate"]["autostop_at"] is None
    assert refused["estimate"]["total_usd"] > 300


def test_plan_follows_the_team_study_day_end(gcp_config, tmp_path):
    import json

    team = tmp_path / "team.yaml"
    team.write_text("team:\n  default_autostop: 8h\n  study_day_end: '19:00 Europe/Paris'\n")
    env = {**gcp_config, "LABCTL_TEAM": str(team)}
    at = datetime(2026, 12, 1, 15, 0)  # 16:00 in Paris: three hours left in the study day
    result = run_at(at, "plan", "movie-recommender", "--target", "gcp", "--no-terraform",
                    "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    estimate = json.loads(result.stdout)["estimate"]
    assert estimate["autostop_at"] == "2026-12-01T18:00:00Z"
    assert estimate["autostop"] == "team study_day_end 19:00 Europe/Paris"
    (endpoint,) = [s for s in estimate["steps"] if s["kind"] == "deploy"]
    assert endpoint["hours"] == 3


def test_every_target_module_takes_the_deadline_as_an_input(gcp_config, monkeypatch):
    """`autostop_at` reaches every target's root module (RFC 3339 UTC), null when none."""
    from labctl import config, orchestrator, terraform

    monkeypatch.setenv("LABCTL_CONFIG", gcp_config["LABCTL_CONFIG"])
    config.settings.cache_clear()
    from labctl.backends.base import backend_for_render

    for target in ("local", "aws", "gcp", "databricks"):
        assert "autostop_at" in terraform.module_variables(target), target
        backend = backend_for_render(target)
        module = orchestrator.root_module(backend, engineer="e@x.io", lab="churn-pipeline",
                                          run_id="r1", ws=Path("/w"),
                                          autostop_at=datetime(2026, 12, 1, 8, 30))  # fmt: skip
        assert module.document()["module"]["lab"]["autostop_at"] == "2026-12-01T08:30:00Z"
        none = orchestrator.root_module(backend, engineer="e@x.io", lab="churn-pipeline",
                                        run_id="r1", ws=Path("/w"))  # fmt: skip
        assert "autostop_at" not in none.document()["module"]["lab"]  # the default: null
