"""`DatabricksBackend`: the databricks target, one mixin per concern (see the package docstring)."""

from __future__ import annotations

from labctl.backends.base import Backend
from labctl.backends.databricks.checks import Checks
from labctl.backends.databricks.client import DatabricksClient
from labctl.backends.databricks.clusters import Clusters
from labctl.backends.databricks.dlt import DeltaLiveTables
from labctl.backends.databricks.monitoring import LakehouseMonitoring
from labctl.backends.databricks.runs import JobRuns
from labctl.backends.databricks.services import Services
from labctl.backends.databricks.serving import Serving
from labctl.backends.databricks.teardown import Teardown
from labctl.backends.databricks.training import Training
from labctl.backends.databricks.unity import UnityCatalog
from labctl.backends.databricks.workflow import Workflows
from labctl.backends.modules import DatabricksModule


class DatabricksBackend(
    Checks,
    Training,
    Serving,
    Services,
    DeltaLiveTables,
    Workflows,
    LakehouseMonitoring,
    Teardown,
    JobRuns,
    Clusters,
    DatabricksClient,
    UnityCatalog,
    DatabricksModule,
    Backend,
):
    name = "databricks"
