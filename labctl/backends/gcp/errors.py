"""Google API and auth errors as BackendErrors with a hint for what to do."""

from __future__ import annotations

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc

from labctl.errors import BackendError

CREDENTIALS_HINT = (
    "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a "
    "service-account key file), then `labctl doctor`"
)


def _error(exc: Exception, what: str, step: str | None) -> BackendError:
    """A Google API or auth error as a BackendError with a hint for what to do."""
    where = f"step '{step}': " if step else ""
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, auth_exc.GoogleAuthError | gexc.Unauthenticated):
        return BackendError(
            f"{where}{what}: no usable Google credentials ({message})", hint=CREDENTIALS_HINT
        )
    if isinstance(exc, gexc.PermissionDenied):
        return BackendError(
            f"{where}{what}: permission denied: {message}",
            hint="your ADC identity needs roles/aiplatform.user (and storage/BigQuery access) on "
            "the project, and roles/iam.serviceAccountUser on the lab's service account; "
            "check the API is enabled (`labctl doctor`)",
        )
    if isinstance(exc, gexc.ResourceExhausted):
        return BackendError(
            f"{where}{what}: quota exhausted: {message}",
            hint="request quota in IAM & Admin > Quotas, or use a smaller "
            "machine type or another region",
        )
    if isinstance(exc, gexc.InvalidArgument | gexc.FailedPrecondition):
        return BackendError(
            f"{where}{what}: rejected by Google Cloud: {message}",
            hint="check the lab's step settings (machine type, region)",
        )
    if isinstance(exc, gexc.NotFound):
        return BackendError(
            f"{where}{what}: not found: {message}", hint="`labctl status` shows what labctl created"
        )
    return BackendError(
        f"{where}{what} failed: {message}",
        hint="check the network and the region, then `labctl doctor`",
    )
