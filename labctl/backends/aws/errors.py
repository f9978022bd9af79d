"""AWS errors in labctl's terms: which mean "already gone", which mean "fix your credentials",
and one message per ClientError naming the step, the operation, the code and what to do next.
"""

from __future__ import annotations

import re

from botocore.exceptions import BotoCoreError, ClientError

from labctl.errors import BackendError

IAM_PREFIX = {"sagemaker-runtime": "sagemaker", "sts": "sts", "s3": "s3"}
CREDENTIALS_HINT = "refresh your AWS credentials (e.g. `aws sso login`), then run `labctl doctor`"

_GONE_CODES = {
    "ResourceNotFound",
    "ResourceNotFoundException",
    "ObjectNotFoundException",
    "NoSuchEntity",
    "NoSuchBucket",
    "NoSuchKey",
}
_GONE_MESSAGE = re.compile(
    r"could not find|cannot find|not found|does not exist|no scalable target|no scaling polic",
    re.IGNORECASE,
)
_CREDENTIAL_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
}
_ACCESS_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
_THROTTLING_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
}


class Throttled(BackendError):
    """AWS throttled the call even after botocore's own retries: worth waiting and retrying."""


def is_gone(exc: ClientError) -> bool:
    """Does this error say the resource does not exist (so a delete has nothing to do)?"""
    err = exc.response.get("Error", {})
    code = err.get("Code", "")
    return code in _GONE_CODES or (
        code == "ValidationException" and bool(_GONE_MESSAGE.search(err.get("Message", "")))
    )


# How a SageMaker API closed to the account refuses (Model Monitor for new customers): not
# documented by AWS, so the access codes and a message naming availability both count.
_CLOSED_MESSAGE = re.compile(
    r"not (available|enabled|supported|authori[sz]ed)|no longer|new customers|access", re.I
)


def is_closed_to_account(exc: ClientError) -> bool:
    """Does this error say the account may not use the feature at all (rather than a bad
    request)? Access denied counts: the caller cannot use it either way."""
    err = exc.response.get("Error", {})
    code = err.get("Code", "")
    return code in _ACCESS_CODES or (
        code == "ValidationException" and bool(_CLOSED_MESSAGE.search(err.get("Message", "")))
    )


def is_credentials_error(exc: BotoCoreError) -> bool:
    """Is this a missing or expired credential (rather than an API error)?"""
    return type(exc).__name__ in (
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "TokenRetrievalError",
        "SSOTokenLoadError",
        "UnauthorizedSSOTokenError",
        "NoAuthTokenError",
    )


def aws_error(exc: ClientError, *, service: str, step: str | None = None) -> BackendError:
    """A botocore ClientError as a BackendError: the step, the operation, the AWS code, a hint."""
    err = exc.response.get("Error", {})
    code = str(err.get("Code") or "Unknown")
    message = str(err.get("Message") or exc).strip()
    operation = exc.operation_name
    where = f"step '{step}': " if step else ""
    hint: str | None = None
    if code in _ACCESS_CODES:
        found = re.search(r"perform: ([\w-]+:\w+)", message)
        permission = found.group(1) if found else f"{IAM_PREFIX.get(service, service)}:{operation}"
        hint = (
            f"your AWS identity lacks the `{permission}` permission: ask your AWS administrator "
            "to grant it (or use a profile that has it), then run `labctl doctor`"
        )
    elif code == "ResourceLimitExceeded":
        hint = (
            "request a quota increase in Service Quotas (Amazon SageMaker) for the instance type "
            "named above - spot training has its own quotas - or choose a smaller instance_type "
            "in labs.yaml"
        )
    elif code == "ValidationException":
        hint = message
    elif code in _CREDENTIAL_CODES:
        hint = CREDENTIALS_HINT
    elif code in _THROTTLING_CODES:
        return Throttled(
            f"{where}{operation} failed with {code}: {message}",
            hint="AWS is throttling requests: wait a minute and run the command again",
        )
    elif code in ("ResourceInUse", "ResourceInUseException"):
        hint = "a resource with this name already exists: `labctl status` shows what is up"
    return BackendError(f"{where}{operation} failed with {code}: {message}", hint=hint)
