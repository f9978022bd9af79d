"""The secure lab's requests: SageMaker jobs (training, tuning, processing, monitoring) and models
in the lab VPC (a `vpc` step), and model
artifacts signed with a `kms-signing` step's asymmetric key, verified before deploying.

Both read the component's Terraform outputs (`components.step_outputs`): the vpc module's
`subnet_ids` and `security_group_id`, the kms-signing module's `key_arn` and
`signing_algorithm`. A lab without those steps gets no extra request fields and no signature.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

from labctl import components
from labctl.catalog import ServiceStep
from labctl.errors import BackendError

if TYPE_CHECKING:
    from labctl.backends.aws.api import AwsApi
    from labctl.backends.base import Context

APPLY_HINT = "`labctl down` then `labctl up` applies the lab's components"
DEFAULT_SIGNING_ALGORITHM = "ECDSA_SHA_256"


def _service_step(ctx: Context, kind: str) -> ServiceStep | None:
    return next(
        (s for s in ctx.lab.steps if isinstance(s, ServiceStep) and s.service == kind), None
    )


def isolation(ctx: Context, *, model: bool = False) -> dict[str, Any]:
    """Request fields that put a training job (a tuning job's definition) or, with `model`, a
    SageMaker model in the lab VPC's private subnets, network-isolated; {} without a vpc step."""
    vpc = _service_step(ctx, "vpc")
    if vpc is None:
        return {}
    made = components.step_outputs(ctx.infra, vpc.name)
    subnets, group = made.get("subnet_ids"), made.get("security_group_id")
    if not subnets or not group:
        raise BackendError(
            f"step '{vpc.name}': no private subnets or security group in the Terraform outputs",
            hint=APPLY_HINT,
        )
    fields: dict[str, Any] = {
        "VpcConfig": {"SecurityGroupIds": [str(group)], "Subnets": [str(s) for s in subnets]},
        "EnableNetworkIsolation": True,
    }
    if not model:
        fields["EnableInterContainerTrafficEncryption"] = True
    return fields


def processing_network(ctx: Context) -> dict[str, Any]:
    """`NetworkConfig` of a processing job (or a Model Monitor job definition) in the lab VPC's
    private subnets, network-isolated, encrypted between instances; {} without a vpc step."""
    fields = isolation(ctx)
    return {"NetworkConfig": fields} if fields else {}


def _signing(ctx: Context) -> tuple[str, str, str] | None:
    """(step name, key ARN, algorithm) of the lab's kms-signing step, else None."""
    step = _service_step(ctx, "kms-signing")
    if step is None:
        return None
    made = components.step_outputs(ctx.infra, step.name)
    key = made.get("key_arn")
    if not key:
        raise BackendError(
            f"step '{step.name}': no signing key in the Terraform outputs", hint=APPLY_HINT
        )
    algorithm = made.get("signing_algorithm") or step.settings.get(
        "signing_algorithm", DEFAULT_SIGNING_ALGORITHM
    )
    return step.name, str(key), str(algorithm)


def digest_hash(algorithm: str) -> str:
    """The hash a KMS signing algorithm signs a digest of: ECDSA_SHA_384 -> sha384 (KMS
    refuses a DIGEST whose length does not match the algorithm's)."""
    bits = algorithm.rsplit("_", 1)[-1]
    return f"sha{bits}" if bits in ("256", "384", "512") else "sha256"


def artifact_digest(api: AwsApi, step_name: str, uri: str, algorithm: str) -> bytes:
    """The digest of an S3 object for `algorithm` (`digest_hash`), read in chunks."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = api._api("s3", "get_object", step=step_name, Bucket=bucket, Key=key)["Body"]
    digest = hashlib.new(digest_hash(algorithm))
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
    return digest.digest()


def sign(api: AwsApi, ctx: Context, step_name: str, artifact: str | None) -> dict[str, Any]:
    """The artifact's digest (SHA-256 for the *_SHA_256 algorithms) signed with the lab's
    signing key (KMS Sign, MessageType DIGEST), as result fields; {} without a kms-signing
    step."""
    signing = _signing(ctx)
    if signing is None or not artifact:
        return {}
    _, key, algorithm = signing
    digest = artifact_digest(api, step_name, artifact, algorithm)
    signed = api._api(
        "kms", "sign", step=step_name, KeyId=key, Message=digest, MessageType="DIGEST",
        SigningAlgorithm=algorithm,
    )  # fmt: skip
    return {
        "artifact_digest": f"{digest_hash(algorithm)}:{digest.hex()}",
        "signature": base64.b64encode(signed["Signature"]).decode(),
        "signing_key": key,
        "signing_algorithm": algorithm,
    }


def verify(api: AwsApi, ctx: Context, step_name: str, model_step: str) -> None:
    """Refuse to deploy `model_step`'s artifact unless its signature verifies (KMS Verify over
    the digest of the artifact as it is now); nothing without a kms-signing step or with
    `verify_before_deploy: false`."""
    signing = _signing(ctx)
    if signing is None:
        return
    signer, key, algorithm = signing
    if components.step_outputs(ctx.infra, signer).get("verify_before_deploy") is False:
        return
    source = ctx.result(step_name, model_step)
    artifact, signature = source.get("model_artifact"), source.get("signature")
    if not artifact or not signature:
        raise BackendError(
            f"step '{step_name}': the model of step '{model_step}' is not signed "
            f"('{signer}' verifies before deploying)",
            hint=f"rerun '{model_step}' so its artifact is signed",
        )
    digest = artifact_digest(api, step_name, artifact, algorithm)
    checked = api._api(
        "kms", "verify", step=step_name, KeyId=key, Message=digest, MessageType="DIGEST",
        Signature=base64.b64decode(signature), SigningAlgorithm=algorithm,
        tolerate=lambda exc: exc.response["Error"]["Code"] == "KMSInvalidSignatureException",
    )  # fmt: skip
    if not checked or not checked.get("SignatureValid"):
        raise BackendError(
            f"step '{step_name}': the signature of {artifact} does not verify with "
            f"'{signer}''s key: the artifact changed after '{model_step}' signed it; "
            "not deployed",
            hint=f"rerun '{model_step}' to train and sign a new artifact",
        )
