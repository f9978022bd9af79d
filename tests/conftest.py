"""Shared fixtures: an isolated LABCTL_HOME per test and a way to run the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


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
def cli(home, tmp_path):
    """Run `python -m labctl ...` as a user would, in a folder without a labs.yaml."""

    def run(*args: str, input: str | None = None, timeout: float = 600, env: dict | None = None):
        proc = subprocess.run(
            [sys.executable, "-m", "labctl", *args],
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
