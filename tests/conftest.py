"""Shared fixtures: an isolated LABCTL_HOME per test and a way to run the real CLI.

`pytest --frozen-now 2026-12-01T00:30` (or LABCTL_TEST_NOW=...) runs the suite with the clock
moved to that instant (time-machine, ticking from there), in this process and in every CLI
subprocess `cli` starts: CI runs the fast tests on the 1st and on the last day of a month, so
nothing may depend on today's date.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# `python -c BOOT args...`: the CLI with the clock moved to argv[1] (an ISO instant, naive UTC)
_BOOT = (
    "import sys, datetime, time_machine; "
    "at = datetime.datetime.fromisoformat(sys.argv.pop(1)).replace(tzinfo=datetime.UTC); "
    "time_machine.travel(at, tick=True).start(); "
    "sys.argv[0] = 'labctl'; from labctl.cli import main; main()"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--frozen-now",
        default=os.environ.get("LABCTL_TEST_NOW"),
        help="run with the clock moved to this UTC instant, e.g. 2026-12-01T00:30 (time-machine)",
    )


@pytest.fixture(scope="session", autouse=True)
def frozen_now(request):
    """The instant the suite runs at under --frozen-now (None: the real clock)."""
    value = request.config.getoption("--frozen-now")
    if not value:
        yield None
        return
    from datetime import UTC, datetime

    import time_machine

    at = datetime.fromisoformat(value).replace(tzinfo=UTC)
    with time_machine.travel(at, tick=True):
        yield at


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def fake_adc(folder: Path) -> dict[str, str]:
    """Environment giving Google's Application Default Credentials from a user credentials file
    (as `gcloud auth application-default login` writes one; nothing is asked of Google until a
    call): plan's checks find credentials, with no account."""
    path = folder / "adc.json"
    path.write_text(json.dumps({"type": "authorized_user", "client_id": "labctl-test",
                                "client_secret": "x", "refresh_token": "x"}))  # fmt: skip
    return {"GOOGLE_APPLICATION_CREDENTIALS": str(path)}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """LABCTL_HOME in a temp folder, a fixed engineer, no user config, the local target."""
    h = tmp_path / "home"
    monkeypatch.setenv("LABCTL_HOME", str(h))
    monkeypatch.setenv("LABCTL_ENGINEER", "tester@example.com")
    monkeypatch.setenv("LABCTL_CONFIG", str(tmp_path / "no-config.toml"))
    for var in ("LABCTL_TARGET", "LABCTL_CATALOG", "LABCTL_TEAM", "LABCTL_DB_URL"):
        monkeypatch.delenv(var, raising=False)
    from labctl import config

    config.settings.cache_clear()
    return h


@pytest.fixture
def cli(home, tmp_path, frozen_now):
    """Run `python -m labctl ...` as a user would, in a folder without a labs.yaml (at this
    process's clock when it is frozen)."""

    def run(*args: str, input: str | None = None, timeout: float = 600, env: dict | None = None):
        command = [sys.executable, "-m", "labctl"]
        if frozen_now:
            from labctl.ledger import utcnow

            command = [sys.executable, "-c", _BOOT, utcnow().isoformat()]
        proc = subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            cwd=tmp_path,
            env={**os.environ, **(env or {})},
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, home, monkeypatch, tmp_path):
    """The ledger on SQLite, and on a fresh PostgreSQL database when LABCTL_TEST_PG_URL names a
    server (CI starts one; elsewhere the PostgreSQL half is skipped, never in CI)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/ledger.db"
        monkeypatch.setenv("LABCTL_DB_URL", url)
        yield url
        return
    base = os.environ.get("LABCTL_TEST_PG_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("CI must set LABCTL_TEST_PG_URL (.ci/run starts PostgreSQL)")
        pytest.skip("no PostgreSQL server: set LABCTL_TEST_PG_URL")
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"labctl_test_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("LABCTL_DB_URL", url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()
