"""The plumbing every AWS step shares: clients made on first use, the one place a botocore error
becomes a `BackendError`, uploads, polling with an injectable clock, names and tags."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from labctl import naming
from labctl.backends.aws.errors import (
    CREDENTIALS_HINT,
    Throttled,
    aws_error,
    is_credentials_error,
    is_gone,
)
from labctl.backends.aws.names import sm_name as sm_name  # re-exported: steps import it here
from labctl.backends.base import Context
from labctl.errors import BackendError
from labctl.ledger import Resource

POLL_SECONDS = 15.0
WAIT_MARGIN = 900  # seconds beyond a job's own limits before labctl stops waiting
THROTTLED_POLLS = 8  # consecutive throttled polls a wait backs off through before giving up
MAX_BACKOFF = 300.0


class AwsApi:
    """Clients, calls and waits; mixed into every part of `AwsBackend`."""

    region: str
    poll_seconds: float
    _session: Any
    _clients: dict[tuple[str, str], Any]
    _sleep: Callable[[float], None]
    _clock: Callable[[], float]

    def _client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self._session.client(
                service,
                region_name=key[1],
                config=Config(
                    # adaptive: standard retries (3 attempts) plus client-side rate limiting
                    # once AWS throttles; waits also back off through throttled polls
                    retries={"mode": "adaptive"},
                    user_agent_extra="labctl",
                ),
            )
        return self._clients[key]

    def _create(
        self, ctx: Context, res: Resource, operation: str, *, status: str, arn_key: str,
        **request: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """Call a SageMaker create API for a resource already in the ledger: its row gets the
        ARN and status, or is closed as not-created when the call fails."""
        with ctx.creating(res):
            created = self._api("sagemaker", operation, **request)
        ctx.ledger.update_resource(res.id, status=status, provider_id=created[arn_key])
        return created

    def _api(
        self,
        service: str,
        operation: str,
        *,
        step: str | None = None,
        region: str | None = None,
        tolerate: Callable[[ClientError], bool] | None = None,
        **params: Any,
    ) -> Any:
        """Call one AWS operation; the one place AWS errors become `BackendError`s.

        Returns None when `tolerate(error)` says the error is acceptable (e.g. "not found").
        """
        client = self._client(service, region)
        try:
            return getattr(client, operation)(**params)
        except ClientError as exc:
            if tolerate is not None and tolerate(exc):
                return None
            raise aws_error(exc, service=service, step=step) from None
        except BotoCoreError as exc:
            where = f"step '{step}': " if step else ""
            if is_credentials_error(exc):
                raise BackendError(
                    f"{where}no usable AWS credentials: {exc}", hint=CREDENTIALS_HINT
                ) from None
            raise BackendError(
                f"{where}{operation} failed: {exc}",
                hint="check the network, AWS_ENDPOINT_URL and the region, then `labctl doctor`",
            ) from None

    def _teardown_call(self, region: str) -> Callable[..., Any]:
        def call(
            service: str, op: str, also: Callable[[ClientError], bool] | None = None, **kw: Any
        ) -> Any:
            def tolerate(exc: ClientError) -> bool:
                return is_gone(exc) or bool(also and also(exc))

            return self._api(service, op, region=region, tolerate=tolerate, **kw)

        return call

    def _unimplemented(self, exc: ClientError) -> bool:
        """An AWS-compatible endpoint (moto) that lacks this operation, never AWS itself."""
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        url = self._client("sagemaker").meta.endpoint_url or ""
        on_aws = re.search(r"\.amazonaws\.com(\.cn)?/?$", url) is not None
        return not on_aws and (
            code in ("NotImplemented", "InvalidAction") or (code.isdigit() and status in (500, 501))
        )

    def _listing(
        self, operation: str, key: str, *, region: str | None = None, **params: Any
    ) -> list[dict[str, Any]]:
        """Every item of a SageMaker listing (all pages); [] where the endpoint lacks it (moto)."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self._api(
                "sagemaker", operation, region=region, tolerate=self._unimplemented,
                MaxResults=100, **params, **({"NextToken": token} if token else {}),
            )  # fmt: skip
            if page is None:
                return items
            items += page.get(key, [])
            token = page.get("NextToken")
            if not token:
                return items

    def _upload(self, step_name: str, file: Path, bucket: str, key: str) -> None:
        from boto3.exceptions import S3UploadFailedError

        try:
            self._client("s3").upload_file(str(file), bucket, key)
        except S3UploadFailedError as exc:
            raise BackendError(
                f"step '{step_name}': uploading {file.name} to s3://{bucket}/{key} failed: {exc}",
                hint="check that the lab's bucket exists (`labctl status`) and your s3:PutObject "
                "permission",
            ) from None
        except ClientError as exc:
            raise aws_error(exc, service="s3", step=step_name) from None
        except BotoCoreError as exc:
            if is_credentials_error(exc):
                raise BackendError(
                    f"step '{step_name}': no usable AWS credentials: {exc}",
                    hint=CREDENTIALS_HINT,
                ) from None
            raise BackendError(f"step '{step_name}': uploading {key} failed: {exc}") from None

    def _wait(
        self,
        what: str,
        describe: Callable[[], dict[str, Any]],
        status_key: str,
        *,
        done: tuple[str, ...],
        timeout: float,
        task: Any = None,
        detail: str | None = None,
    ) -> dict[str, Any]:
        """Poll `describe` until its status is one of `done`; BackendError after `timeout` s.

        A throttled poll is retried with exponential backoff (THROTTLED_POLLS in a row at most).
        """
        deadline = self._clock() + timeout
        shown = None
        throttled = 0
        while True:
            try:
                desc = describe()
            except Throttled:
                # The job runs on whether or not labctl can see it: back off and look again.
                throttled += 1
                if throttled > THROTTLED_POLLS or self._clock() >= deadline:
                    raise
                self._sleep(min(MAX_BACKOFF, self.poll_seconds * 2**throttled))
                continue
            throttled = 0
            status = desc[status_key]
            label = f"{status} ({desc[detail]})" if detail and desc.get(detail) else status
            if task is not None and label != shown:
                counters = desc.get("TrainingJobStatusCounters")
                if counters and task is not None:
                    label += f", {counters.get('Completed', 0)} done"
                task.advance(0, description=f"{what}: {label}")
            shown = label
            if status in done:
                return desc
            if self._clock() >= deadline:
                raise BackendError(
                    f"{what} is still {status} after {timeout / 60:.0f} minutes",
                    hint="it keeps running on AWS; `labctl status` shows it",
                )
            self._sleep(self.poll_seconds)


def tags(ctx: Context) -> list[dict[str, str]]:
    tags = naming.tags(ctx.run.engineer, ctx.lab_name, ctx.run.id)
    return [{"Key": k, "Value": v} for k, v in tags.items()]
