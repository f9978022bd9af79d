"""Identities, names and tags that are valid on every cloud at once.

An engineer's identity is normalised once (`identity`): surrounding blanks dropped and the whole
of it lower-cased, so `Ana@X.io` and `ana@x.io` are one engineer (most identity providers treat
e-mail addresses case-insensitively). Everything per engineer (workspace folder, cloud name
prefix) carries a short hash of that normalised identity, so two identities never share one.

Tag values must pass Google's label rules (lowercase letters, digits, '-' and '_', at most 63
characters), which also satisfy AWS and Databricks, so one function serves all three.
"""

from __future__ import annotations

import hashlib
import re

TAG_KEYS = ("labctl-engineer", "labctl-lab", "labctl-run")


def identity(engineer: str) -> str:
    """The normalised identity: stripped and lower-cased (`' Ana@X.io'` -> `ana@x.io`)."""
    return engineer.strip().lower()


def identity_hash(engineer: str, length: int = 10) -> str:
    """A short hex digest of the normalised identity: what keeps look-alike identities apart."""
    return hashlib.sha256(identity(engineer).encode()).hexdigest()[:length]


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
    """`labctl-<user>-<lab>-<hash>`, a lowercase slug short enough for bucket and job names.

    `<hash>` is `identity_hash(engineer, 6)`: `a.b@x.io` and `a@b.x.io`, or `ana@x.io` and
    `ana@y.io`, get different prefixes (a long one is shortened by `label_value`, whose own
    digest covers the whole text, hash included).
    """
    user = identity(engineer).split("@")[0]
    return label_value(f"labctl-{user}-{lab}-{identity_hash(engineer, 6)}", limit)
