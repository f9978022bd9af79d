"""Who is running labctl, where, and with which defaults.

Precedence, as for every setting: command-line option > environment > config file > default.
The config file is `~/.config/labctl/config.toml` (or `$LABCTL_CONFIG`), for example::

    target = "aws"            # default for --target (local, aws, gcp, databricks, native)
    engineer = "ana@example.com"
    terraform = "/usr/local/bin/tofu"   # a team's binary, or LABCTL_TERRAFORM (default: bundled)

    [aws]
    region = "us-east-1"
    state_bucket = "team-labctl-state"   # remote state with locking; local state if unset

    [gcp]
    project = "my-lab-project"
    region = "us-central1"
    billing_account = "01AB23-45CD67-89EF01"   # per-engineer budgets (LABCTL_GCP_BILLING_ACCOUNT)

    [databricks]
    profile = "DEFAULT"
"""

from __future__ import annotations

import getpass
import os
import subprocess
import tomllib
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from labctl import paths
from labctl.errors import LabctlError, UsageError, did_you_mean
from labctl.naming import identity

TARGETS = ("local", "aws", "gcp", "databricks")
TargetChoice = Literal["local", "aws", "gcp", "databricks", "native"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AwsSettings(_Section):
    region: str | None = None
    state_bucket: str | None = None
    state_key_prefix: str = "labctl"
    state_lock_table: str | None = None


class GcpSettings(_Section):
    project: str | None = None
    region: str = "us-central1"
    billing_account: str | None = None  # for the per-engineer google_billing_budget


class DatabricksSettings(_Section):
    profile: str | None = None
    cloud: Literal["aws", "azure", "gcp"] = "aws"


class Settings(_Section):
    target: TargetChoice = "local"
    engineer: str | None = None
    terraform: str | None = None  # a team's terraform/tofu binary; unset: the bundled Terraform
    aws: AwsSettings = AwsSettings()
    gcp: GcpSettings = GcpSettings()
    databricks: DatabricksSettings = DatabricksSettings()


@cache
def settings() -> Settings:
    """The config file, then `LABCTL_TARGET` / `LABCTL_ENGINEER` on top."""
    file = paths.user_config()
    data: dict[str, Any] = {}
    if file.is_file():
        from labctl.safe_yaml import read_text  # CatalogError for a non-UTF-8 file, with its line

        try:
            data = tomllib.loads(read_text(file, "config file"))
        except tomllib.TOMLDecodeError as exc:
            raise LabctlError(f"cannot read {file}: {exc}") from None
    if os.environ.get("LABCTL_TARGET"):
        data["target"] = os.environ["LABCTL_TARGET"]
    if os.environ.get("LABCTL_ENGINEER"):
        data["engineer"] = os.environ["LABCTL_ENGINEER"]
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise LabctlError(
            f"bad setting in {file} or the environment: {problems}",
            hint=f"targets are: {', '.join((*TARGETS, 'native'))}",
        ) from None


def engineer(explicit: str | None = None) -> str:
    """--engineer, else LABCTL_ENGINEER / config, else git user.email, else the OS user;
    normalised (`naming.identity`: stripped, lower-cased) so one person is one engineer."""
    chosen = explicit or settings().engineer
    if chosen is not None and not identity(chosen):
        raise UsageError("the engineer's identity is empty", hint="pass --engineer YOU@COMPANY")
    if chosen:
        return identity(chosen)
    try:
        email = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        email = ""
    return identity(email or getpass.getuser())


def resolve_target(explicit: str | None, native: str) -> str:
    """--target, else the configured default; 'native' means the lab's own cloud."""
    choice = explicit or settings().target
    if choice == "native":
        return native
    if choice not in TARGETS:
        raise UsageError(
            f"unknown target '{choice}'{did_you_mean(choice, (*TARGETS, 'native'))}",
            hint=f"targets are: {', '.join((*TARGETS, 'native'))}",
        )
    return choice
