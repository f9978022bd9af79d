"""Names, tags and paths of the databricks target's resources."""

from __future__ import annotations

import re

from labctl import naming
from labctl.backends.base import Context


def dbx_name(text: str, limit: int = 63) -> str:
    """A name valid for serving endpoints and registered models: [A-Za-z0-9_-], <= limit."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"
    return name[:limit].rstrip("-")


def endpoint_name(engineer: str, lab: str, step: str) -> str:
    """The serving endpoint of a lab's deploy step (one per engineer and lab, across runs)."""
    return dbx_name(f"{naming.name_prefix(engineer, lab)}-{step}")


def _tags(ctx: Context) -> dict[str, str]:
    return naming.tags(ctx.run.engineer, ctx.lab_name, ctx.run.id)


def _fuse(uri: str) -> str:
    """`dbfs:/x` as the driver's FUSE path `/dbfs/x` (what pandas and the launcher open)."""
    return "/dbfs/" + uri.removeprefix("dbfs:/") if uri.startswith("dbfs:/") else uri


def uc_schema(ctx: Context) -> str | None:
    """`<catalog>.<schema>` of the lab under Unity Catalog (the module's output), else None."""
    return str(ctx.infra["uc_schema"]) if ctx.infra.get("uc_catalog") else None
