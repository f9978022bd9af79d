"""`labctl doctor` lines for Google Cloud."""

from __future__ import annotations

import google.auth
from google.auth import exceptions as auth_exc

from labctl import config
from labctl.backends.gcp.client import SCOPES
from labctl.backends.gcp.errors import CREDENTIALS_HINT
from labctl.backends.gcp.images import REGIONS


def doctor() -> list[tuple[str, bool, str]]:
    """`labctl doctor` lines for Google Cloud: ADC credentials, the project, the region."""
    lines: list[tuple[str, bool, str]] = []
    gcp = config.settings().gcp
    adc_project = None
    try:
        credentials, adc_project = google.auth.default(scopes=SCOPES)
        who = getattr(credentials, "service_account_email", None) or type(credentials).__name__
        lines.append(("credentials", True, f"Application Default Credentials ({who})"))
    except auth_exc.DefaultCredentialsError:
        lines.append(("credentials", False, f"none found: {CREDENTIALS_HINT}"))
    project = gcp.project or adc_project
    if project:
        source = "[gcp] project" if gcp.project else "the ADC project"
        lines.append(("project", True, f"{project} (from {source})"))
    else:
        lines.append(
            (
                "project",
                False,
                "not set: `[gcp] project` in the labctl config, or GOOGLE_CLOUD_PROJECT",
            )
        )
    known = gcp.region in REGIONS
    lines.append(
        (
            "region",
            known,
            gcp.region
            if known
            else f"{gcp.region}: not a Vertex AI region labctl knows ({', '.join(REGIONS)})",
        )
    )
    return lines
