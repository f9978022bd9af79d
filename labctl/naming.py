"""Names and tags that are valid on every cloud at once.

Tag values must pass Google's label rules (lowercase letters, digits, '-' and '_', at most 63
characters), which also satisfy AWS and Databricks, so one function serves all three.
"""

from __future__ import annotations

import hashlib
import re

TAG_KEYS = ("labctl-engineer", "labctl-lab", "labctl-run")


def label_value(text: str, limit: int = 63) -> str:
    """`ana@example.com` -> `ana-example-com`; long values keep a short hash for uniqueness."""
    value = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "x"
    if len(value) > limit:
        digest = hashlib.sha256(text.encode()).hexdigest()[:6]
        value = value[: limit - 7].rstrip("-") + "-" + digest
    return value


def tags(engineer: str, lab: str, run_id: str) -> dict[str, str]:
    """The three labctl tags carried by everything billable."""
    values = (label_value(engineer), label_value(lab), label_value(run_id))
    return dict(zip(TAG_KEYS, values, strict=True))


def name_prefix(engineer: str, lab: str, limit: int = 40) -> str:
    """`labctl-<engineer>-<lab>`, a lowercase slug short enough for bucket and job names."""
    return label_value(f"labctl-{engineer.split('@')[0]}-{lab}", limit)
