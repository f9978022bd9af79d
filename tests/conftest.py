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
    for var in ("LABCTL_TARGET", "LABCTL_CATALOG", "LABCTL_TEAM"):
        monkeypatch.delenv(var, raising=False)
    if not os.environ.get("LABCTL_TEST_DB_URL"):
        monkeypatch.delenv("LABCTL_DB_URL", raising=False)
    from labctl import config

    config.settings.cache_clear()
    return h


@pytest.fixture
def cli(home, tmp_path):
    """Run `python -m labctl ...` as a user would, in a folder without a labs.yaml."""

    def run(*args: str, input: str | None = None, timeout: float = 600, env: dict | None = None):
        proc = subprocess.run(
            [sys.executable, "-m", "labctl", *args],
            capture_output=True, text=True, input=input, timeout=timeout, cwd=tmp_path,
            env={**os.environ, **(env or {})},
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
