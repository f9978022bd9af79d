"""The gcp target's plumbing: credentials, project, clients, calls and waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import google.auth
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.cloud import aiplatform_v1 as aip

from labctl import config
from labctl.backends.gcp.errors import CREDENTIALS_HINT, _error
from labctl.backends.gcp.images import REGIONS
from labctl.backends.modules import gcp_project_setting, no_gcp_project
from labctl.errors import BackendError, UsageError

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
JOB_DONE = (
    "JOB_STATE_SUCCEEDED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_EXPIRED",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
)
PIPELINE_DONE = ("PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED")
POLL_SECONDS = 30.0
WAIT_MARGIN = 1800  # beyond a job's own limits (queueing, spot capacity) before labctl gives up
DEPLOY_TIMEOUT = 3600
OPERATION_TIMEOUT = 1800


class GcpClient:
    """Identity (ADC, project, region), the GAPIC/BigQuery/Storage clients, and the one
    place their calls, long-running operations and polling become BackendErrors."""

    def __init__(
        self,
        *,
        project: str | None = None,
        region: str | None = None,
        credentials: Any = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        gcp = config.settings().gcp
        self.region = region or gcp.region
        if self.region not in REGIONS:
            raise UsageError(
                f"gcp: unknown Vertex AI region '{self.region}'",
                hint="set `[gcp] region` in the labctl config to one of: " + ", ".join(REGIONS),
            )
        self._project = project or gcp_project_setting()
        self._credentials = credentials
        self._clients: dict[str, Any] = {}
        self._sleep = sleep or time.sleep
        self._clock = clock or time.monotonic
        self.poll_seconds = POLL_SECONDS if poll_seconds is None else poll_seconds
        self._package: str | None = None

    # --- identity -------------------------------------------------------------------------------

    @property
    def project(self) -> str:
        """`[gcp] project`, else the ADC project; a clear error when neither is set."""
        if not self._project:
            _, adc_project = self._adc()
            self._project = adc_project
        if not self._project:
            raise no_gcp_project()
        return self._project

    def _adc(self) -> tuple[Any, str | None]:
        """Application Default Credentials (asked for once)."""
        if self._credentials is None:
            try:
                self._credentials, project = google.auth.default(scopes=SCOPES)
            except auth_exc.DefaultCredentialsError as exc:
                raise BackendError(
                    f"gcp: no Application Default Credentials ({str(exc).splitlines()[0]})",
                    hint=CREDENTIALS_HINT,
                ) from None
            self._adc_project = project
        return self._credentials, getattr(self, "_adc_project", None)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def registry(self) -> str:
        return REGIONS[self.region or "us-central1"]

    def _client(self, service: str) -> Any:
        """A GAPIC client of the region's Vertex AI endpoint (made once, ADC credentials)."""
        if service not in self._clients:
            classes = {
                "job": aip.JobServiceClient,
                "model": aip.ModelServiceClient,
                "endpoint": aip.EndpointServiceClient,
                "pipeline": aip.PipelineServiceClient,
                "dataset": aip.DatasetServiceClient,
                "prediction": aip.PredictionServiceClient,
                "schedule": aip.ScheduleServiceClient,
            }
            if service in ("monitoring", "beta-schedule"):  # Model Monitoring v2: v1beta1 only
                from google.cloud import aiplatform_v1beta1 as beta

                classes["monitoring"] = beta.ModelMonitoringServiceClient
                classes["beta-schedule"] = beta.ScheduleServiceClient
            credentials, _ = self._adc()
            self._clients[service] = classes[service](
                credentials=credentials,
                client_options={"api_endpoint": f"{self.region}-aiplatform.googleapis.com"},
            )
        return self._clients[service]

    def _bq(self) -> Any:
        if "bigquery" not in self._clients:
            from google.cloud import bigquery

            credentials, _ = self._adc()
            self._clients["bigquery"] = bigquery.Client(
                project=self.project, credentials=credentials, location=self.region
            )
        return self._clients["bigquery"]

    def _storage(self) -> Any:
        if "storage" not in self._clients:
            from google.cloud import storage

            credentials, _ = self._adc()
            self._clients["storage"] = storage.Client(project=self.project, credentials=credentials)
        return self._clients["storage"]

    def _api(
        self,
        service: str,
        method: str,
        *,
        step: str | None = None,
        gone_ok: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Call one GAPIC method; the one place Google errors become BackendErrors.

        Returns None for "not found" when `gone_ok` (teardown, status)."""
        client = self._client(service)
        try:
            return getattr(client, method)(**kwargs)
        except gexc.NotFound as exc:
            if gone_ok:
                return None
            raise _error(exc, method, step) from None
        except (gexc.GoogleAPIError, auth_exc.GoogleAuthError) as exc:
            raise _error(exc, method, step) from None

    def _result(
        self,
        op: Any,
        what: str,
        step: str | None,
        *,
        gone_ok: bool = False,
        timeout: float = OPERATION_TIMEOUT,
    ) -> Any:
        """Wait for a long-running operation's result."""
        try:
            return op.result(timeout=timeout)
        except gexc.NotFound as exc:
            if gone_ok:
                return None
            raise _error(exc, what, step) from None
        except (gexc.GoogleAPIError, auth_exc.GoogleAuthError) as exc:
            raise _error(exc, what, step) from None
        except TimeoutError:
            raise BackendError(
                f"{what} did not finish in {timeout / 60:.0f} minutes",
                hint="it may still finish on Google Cloud; `labctl status`",
            ) from None

    def _wait(
        self,
        what: str,
        get: Callable[[], Any],
        *,
        done: tuple[str, ...],
        timeout: float,
        task: Any = None,
    ) -> Any:
        """Poll `get` until its state is in `done`; BackendError after `timeout` seconds."""
        deadline = self._clock() + timeout
        shown = None
        while True:
            found = get()
            state = found.state.name
            if task is not None and state != shown:
                task.advance(0, description=f"{what}: {state.split('_STATE_')[-1].lower()}")
            shown = state
            if state in done:
                return found
            if self._clock() >= deadline:
                raise BackendError(
                    f"{what} is still {state} after {timeout / 60:.0f} minutes",
                    hint="it keeps running (and billing) on Google Cloud: `labctl down` cancels it",
                )
            self._sleep(self.poll_seconds)

    def _upload_many(self, step_name: str, bucket: str, files: list[tuple[Path, str]]) -> None:
        try:
            target = self._storage().bucket(bucket)
            for path, key in files:
                target.blob(key).upload_from_filename(str(path))
        except (gexc.GoogleAPIError, auth_exc.GoogleAuthError) as exc:
            raise _error(exc, f"uploading to gs://{bucket}", step_name) from None
