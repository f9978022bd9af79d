"""The embedded `local` target: the lab's steps on this machine, for $0.

Training runs the lab's entry-point script in a subprocess under the SageMaker training contract
(`labctl.entrypoints.contract`, training.py); tuning maps the lab's tuning spec onto Optuna
(tuning.py); deploy starts `labctl.serving` (the SageMaker inference contract) as a background
process (serving.py); `service` steps run local analogues of cloud services (services.py). Every
process is in the ledger before it starts and carries a token in its command line
(`-X labctl_token=...`, processes.py), so `labctl down` finds it even when `labctl up` was killed
before it could record the pid.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labctl.backends.local.backend import LocalBackend
    from labctl.backends.local.services import ANALOGUES, tracking_env

# Loaded on first use: `labctl status` reads processes.py alone, without the training stack.
_LAZY = {"LocalBackend": "backend", "ANALOGUES": "services", "tracking_env": "services"}
__all__ = ["ANALOGUES", "LocalBackend", "tracking_env"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
