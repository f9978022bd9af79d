"""`GcpBackend`: the gcp target, composed of one mixin per concern (see the package docstring)."""

from __future__ import annotations

from labctl.backends.base import Backend
from labctl.backends.gcp.batch import BatchSteps
from labctl.backends.gcp.checks import Checks
from labctl.backends.gcp.client import GcpClient
from labctl.backends.gcp.data import DataSteps
from labctl.backends.gcp.dataflow import Dataflow
from labctl.backends.gcp.monitoring import Monitoring
from labctl.backends.gcp.pipelines import Pipelines
from labctl.backends.gcp.services import Services
from labctl.backends.gcp.serving import Serving
from labctl.backends.gcp.teardown import Teardown
from labctl.backends.gcp.training import Training
from labctl.backends.gcp.tuning import Tuning
from labctl.backends.modules import GcpModule


class GcpBackend(
    Checks,
    DataSteps,
    Training,
    Tuning,
    Serving,
    BatchSteps,
    Services,
    Dataflow,
    Pipelines,
    Monitoring,
    Teardown,
    GcpClient,
    GcpModule,
    Backend,
):
    name = "gcp"
