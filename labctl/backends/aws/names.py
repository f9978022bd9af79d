"""SageMaker resource names, importable without boto3 (the module renders them for expiry)."""

from __future__ import annotations

import hashlib
import re

__all__ = ["quality_job_prefix", "sm_name"]

# EventBridge Scheduler's execution id (16 characters in AWS's examples; room is left for a
# UUID's 36) follows the prefix of a scheduled job's name: 63 - 1 - 36 = 26.
QUALITY_PREFIX_LIMIT = 26


def sm_name(base: str, run_id: str, *, suffix: str = "", limit: int = 63) -> str:
    """`<base>-<run>[-<suffix>]` within SageMaker's name rules; long bases keep a short hash."""
    tail = f"-{run_id}" + (f"-{suffix}" if suffix else "")
    name = re.sub(r"[^a-zA-Z0-9-]+", "-", base).strip("-") or "x"
    if len(name) + len(tail) > limit:
        digest = hashlib.sha256(base.encode()).hexdigest()[:5]
        name = name[: max(1, limit - len(tail) - 6)].rstrip("-") + "-" + digest
    return (name + tail)[:limit].rstrip("-")


def quality_job_prefix(step: str, run_id: str) -> str:
    """The name of a monitor step's scheduled quality-check jobs, before `-<execution id>`."""
    return sm_name(step, run_id, suffix="q", limit=QUALITY_PREFIX_LIMIT)
