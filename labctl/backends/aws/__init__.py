"""The `aws` target (Amazon SageMaker through boto3), one module per concern.

The package imports nothing heavy itself: `images`, `algorithms` and `errors` stay importable
without boto3 (render/plan use the image table), while `AwsBackend`, `doctor` and the request
helpers are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labctl.backends.aws.backend import AwsBackend
    from labctl.backends.aws.errors import aws_error
    from labctl.backends.aws.names import sm_name
    from labctl.backends.aws.preflight import doctor
    from labctl.backends.aws.tuning import parameter_ranges

_LAZY = {
    "AwsBackend": "backend",
    "doctor": "preflight",
    "sm_name": "names",
    "aws_error": "errors",
    "parameter_ranges": "tuning",
}
__all__ = ["AwsBackend", "aws_error", "doctor", "parameter_ranges", "sm_name"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
