"""Unity Catalog or the workspace registry: which one the lab's workspace gives, from a probe of
its metastore assignment (`GET /api/2.1/unity-catalog/current-metastore-assignment`).

With a metastore, the lab gets a schema and a volume in a catalog (Terraform), its pipelines run
serverless into that schema, its models are registered in Unity Catalog (`<catalog>.<schema>.
<model>`, with aliases) and its serving endpoints write inference tables there. Without one, the
workspace model registry, Hive metastore schemas and DBFS are used, and `plan` says so.

`LABCTL_DATABRICKS_CATALOG` overrides the probe: a catalog name, or `none` for the workspace
registry (a team whose principal may not read the assignment, or one that wants another catalog
than the metastore's default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as dbx_errors

from labctl.backends.databricks.errors import _first_line
from labctl.errors import BackendError

if TYPE_CHECKING:
    from labctl.catalog import Lab

CATALOG_ENV = "LABCTL_DATABRICKS_CATALOG"
PROBE_HTTP_SECONDS = 10
PROBE_RETRY_SECONDS = 20
FALLBACK_CATALOG = "main"  # when the metastore's default catalog is the legacy hive_metastore


@dataclass(frozen=True)
class Metastore:
    """What the probe found: the catalog to use (None: workspace registry) and why."""

    catalog: str | None
    reason: str

    @property
    def enabled(self) -> bool:
        return self.catalog is not None


def probe(w: WorkspaceClient) -> Metastore:
    """Unity Catalog or not for this workspace: `LABCTL_DATABRICKS_CATALOG`, else its metastore
    assignment (asked with short timeouts); an error reading it counts as none, with the reason."""
    forced = _forced()
    if forced is not None:
        return forced
    try:
        found = _quick(w).metastores.current()
    except (dbx_errors.NotFound, dbx_errors.ResourceDoesNotExist):
        found = None
    except (dbx_errors.DatabricksError, ValueError, OSError) as exc:
        why = _first_line(exc).split(":")[0]
        return Metastore(None, f"the metastore assignment could not be read: {why}")
    if found is None or not found.metastore_id:
        return Metastore(None, "the workspace has no Unity Catalog metastore assigned")
    default = found.default_catalog_name
    catalog = default if default and default != "hive_metastore" else FALLBACK_CATALOG
    return Metastore(catalog, f"metastore {found.metastore_id}, catalog {catalog}")


class UnityCatalog:
    """The probe (once per backend) and the module input it decides."""

    _metastore: Metastore | None = None

    def metastore(self) -> Metastore:
        if self._metastore is None:
            try:
                client = self.w  # type: ignore[attr-defined]
            except BackendError as exc:  # no usable credentials
                self._metastore = probe_without_client(exc.message)
            else:
                self._metastore = probe(client)
        return self._metastore

    def module_inputs(self, ctx_workspace: Path, lab: Lab | None = None) -> dict[str, Any]:
        """The module's inputs plus `uc_catalog` when the workspace has Unity Catalog."""
        inputs = super().module_inputs(ctx_workspace, lab)  # type: ignore[misc]
        store = self.metastore()
        return {**inputs, "uc_catalog": store.catalog} if store.enabled else inputs


def probe_without_client(why: str) -> Metastore:
    """What `probe` says when no client can be made: the override, else none."""
    return _forced() or Metastore(
        None, f"the metastore assignment could not be read: {why.split(':')[0]}"
    )


def _forced() -> Metastore | None:
    """`LABCTL_DATABRICKS_CATALOG`: a catalog, `none`, or unset (None: ask the workspace)."""
    forced = os.environ.get(CATALOG_ENV, "").strip()
    if forced.lower() == "none":
        return Metastore(None, f"{CATALOG_ENV}=none")
    return Metastore(forced, f"{CATALOG_ENV}={forced}") if forced else None


def _quick(w: WorkspaceClient) -> WorkspaceClient:
    """The same workspace and credentials, giving up within seconds: `plan` asks this question,
    and an unreachable host must not hold it for the SDK's default five minutes of retries."""
    cfg = w.config.copy()
    cfg.http_timeout_seconds = PROBE_HTTP_SECONDS
    cfg.retry_timeout_seconds = PROBE_RETRY_SECONDS
    return WorkspaceClient(config=cfg)
