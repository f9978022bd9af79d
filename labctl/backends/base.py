"""The Backend protocol every target implements, and the registry that loads them on demand.

A backend runs a lab's steps on its target. Each step kind in `labs.yaml` (data, train, tune,
deploy, batch, monitor, pipeline, service) is a method of the same name, so grepping the YAML word
lands on the code. A kind a backend does not implement is refused with the step's name, never
skipped silently.

Design choice: cloud SDKs are imported only inside a backend module, and a backend module is
imported only when a command needs that target (`get_backend`), so `labctl list` stays fast.
"""

from __future__ import annotations

import contextlib
import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from labctl.errors import BackendError, LabctlError, MissingExtra, Unsupported

if TYPE_CHECKING:
    from labctl.catalog import Lab, StepBase
    from labctl.ledger import Ledger, Resource, Run
    from labctl.prices import PriceBook
    from labctl.progress import Reporter


@dataclass
class Finding:
    """Something a target cannot do for a lab: fatal refuses `up`, otherwise a warning."""

    step: str
    reason: str
    fatal: bool = True


@dataclass
class Context:
    """Everything a backend needs while it runs one lab's steps."""

    ledger: Ledger
    run: Run
    lab_name: str
    lab: Lab
    workspace: Path
    infra: dict[str, Any]  # terraform outputs: bucket, role, region...
    prices: PriceBook
    reporter: Reporter
    rows: int | None = None  # overrides data steps' row counts
    max_jobs: int | None = None  # overrides tune steps' max_jobs
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # step name -> its result

    def output(self, key: str) -> str:
        """A Terraform output of the lab's module; missing means the module was not applied."""
        value = self.infra.get(key)
        if not value:
            raise BackendError(
                f"the Terraform outputs have no '{key}' (got: {', '.join(self.infra) or 'none'})",
                hint="`labctl down` then `labctl up` re-applies the lab's module",
            )
        return str(value)

    def result(self, step_name: str, needed: str) -> dict[str, Any]:
        """The result of step `needed`, which step `step_name` depends on."""
        try:
            return self.results[needed]
        except KeyError:
            raise BackendError(
                f"step '{step_name}' needs step '{needed}' to have run first in this lab"
            ) from None

    @contextlib.contextmanager
    def creating(self, res: Resource) -> Iterator[None]:
        """Around the create call of a resource whose ledger row is written: if the call fails,
        nothing was created, so the row is closed as `not-created`."""
        try:
            yield
        except LabctlError:
            self.ledger.close_resource(res.id, status="not-created")
            raise

    def record(self, step: StepBase, result: dict[str, Any]) -> None:
        """Keep a step's result for later steps and in the ledger (for status/invoke/down)."""
        self.results[step.name] = result
        steps = {**self.run.outputs.get("steps", {}), step.name: result}
        self.run = self.ledger.update_run(self.run.id, outputs={**self.run.outputs, "steps": steps})


class Backend(ABC):
    """One target. Subclasses implement the step kinds they support, plus teardown."""

    name: ClassVar[str]
    region: str | None = None

    def check(self, lab: Lab) -> list[Finding]:
        """What this target cannot do for `lab` (default: step kinds it has no method for), and
        a train step taking a model (`distill_from`) from no train or tune step before it."""
        from labctl import entrypoints

        findings = [
            Finding(s.name, f"the {self.name} target has no '{s.kind}' step")
            for s in lab.steps
            if not callable(getattr(self, s.kind.replace("-", "_"), None))
        ]
        models: set[str] = set()  # the train and tune steps so far
        for s in lab.steps:
            for channel, source in entrypoints.model_channels(
                getattr(s, "hyperparameters", None) or {}
            ).items():
                if source not in models:
                    findings.append(
                        Finding(
                            s.name,
                            f"its {channel} model comes from '{source}', which is no train or "
                            "tune step before it",
                        )
                    )
            if s.kind in ("train", "tune"):
                models.add(s.name)
        return findings

    def module_inputs(self, ctx_workspace: Path, lab: Lab | None = None) -> dict[str, Any]:
        """Target-specific inputs of the Terraform module (beyond engineer, lab, run, tags)."""
        return {}

    def module_components(self, lab: Lab) -> dict[str, dict[str, Any]]:
        """Extra module blocks of the root module, by step name (default: none)."""
        return {}

    def run_inputs(self, lab: Lab, *, lab_name: str, engineer: str, run_id: str) -> dict[str, Any]:
        """Module inputs naming what this run will make before it exists: what the cloud-side
        expiry deletes at `autostop_at` (the lab's endpoints), what a schedule may start.
        Default: none (the local target keeps `cost enforce`)."""
        return {}

    def provider_config(self, tags: dict[str, str]) -> dict[str, Any]:
        """The root module's `provider` block (region, default tags)."""
        return {}

    def backend_config(self, engineer: str, lab: str) -> dict[str, Any] | None:
        """Remote state for teams; None keeps local state."""
        return None

    offline_plugins: ClassVar[bool] = False  # True when the module's providers ship with labctl

    def run_step(self, step: StepBase, ctx: Context) -> dict[str, Any]:
        """Run one step by its kind; a failure that left resources up says how to remove them."""
        method = getattr(self, step.kind.replace("-", "_"), None)
        if method is None:
            raise Unsupported(f"step '{step.name}': the {self.name} target has no '{step.kind}'")
        try:
            return method(step=step, ctx=ctx)
        except BackendError as exc:
            if ctx.ledger.open_resources(ctx.run.id):
                down = f"`labctl down {ctx.lab_name}` removes what was created"
                exc.hint = f"{exc.hint}; {down}" if exc.hint else down
            raise

    # --- ledger rows ----------------------------------------------------------------------

    def _price(self, ctx: Context, kind: str, instance_type: str) -> dict[str, Any]:
        """Ledger fields pricing one instance of a resource of `kind` here, at launch."""
        from labctl import cost

        return cost.launch_price(ctx.prices, self.name, kind, instance_type, self.region)

    def _add(
        self, ctx: Context, kind: str, name: str, *, with_price: bool = True, **fields: Any
    ) -> Resource:
        """The ledger row of a resource about to be created, priced at launch when billable."""
        if with_price and fields.get("instance_type"):
            fields = {**self._price(ctx, kind, fields["instance_type"]), **fields}
        return ctx.ledger.add_resource(ctx.run, kind=kind, name=name, region=self.region, **fields)

    def _endpoint_fields(
        self, ctx: Context, instance_types: list[str], per_variant: int
    ) -> dict[str, Any]:
        """One ledger row for an endpoint of several variants (one instance type each, each with
        `per_variant` instances): its instance types, count and mean price per instance."""
        prices = [self._price(ctx, "endpoint", itype) for itype in instance_types]
        types = list(dict.fromkeys(instance_types))
        fields: dict[str, Any] = {
            "instance_type": types[0] if len(types) == 1 else "+".join(types)[:64],
            "instance_count": per_variant * len(instance_types),
        }
        if all(p.get("price_per_hour") is not None for p in prices):
            fields["price_per_hour"] = sum(p["price_per_hour"] for p in prices) / len(prices)
            fields["price_source"] = (
                prices[0]["price_source"]
                if len(types) == 1
                else f"mean per instance of {', '.join(types)}"
            )[:200]
        return fields

    @abstractmethod
    def teardown(self, resource: Resource, ledger: Ledger) -> None:
        """Delete one resource; one that is already gone counts as deleted."""

    def follow_deadline(self, run: Run, ledger: Ledger) -> None:
        """Move what the backend scheduled to end at the run's deadline (`run.autostop_at`, just
        moved by `labctl extend`) that the stack does not hold. Default: nothing."""
        return None

    def live_status(self, resource: Resource) -> str:
        """The resource's status as the target sees it now (default: the ledger's)."""
        return resource.status

    def invoke(self, resource: Resource, body: bytes, content_type: str, accept: str) -> bytes:
        raise Unsupported(f"the {self.name} target cannot invoke endpoints from labctl")


def hp_string(value: Any) -> str:
    """A hyperparameter value as the clouds' string maps take it (booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def hp_strings(hps: dict[str, Any]) -> dict[str, str]:
    return {k: hp_string(v) for k, v in hps.items()}


# name -> (module, class, the pip extra that provides its SDK, the SDK module)
REGISTRY: dict[str, tuple[str, str, str | None, str | None]] = {
    "local": ("labctl.backends.local", "LocalBackend", None, None),
    "aws": ("labctl.backends.aws", "AwsBackend", "aws", "boto3"),
    "gcp": ("labctl.backends.gcp", "GcpBackend", "gcp", "google.cloud.aiplatform"),
    "databricks": (
        "labctl.backends.databricks",
        "DatabricksBackend",
        "databricks",
        "databricks.sdk",
    ),
}


def get_backend(target: str) -> Backend:
    """Import and build the backend for `target`; a missing SDK names the pip extra."""
    module_name, class_name, extra, sdk = REGISTRY[target]
    if sdk is not None and importlib.util.find_spec(sdk.split(".")[0]) is None:
        raise MissingExtra(extra or target, sdk)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise Unsupported(f"the {target} target is not implemented in this version") from None
        raise MissingExtra(extra or target, exc.name or sdk or target) from None
    return getattr(module, class_name)()


class RenderOnly(Backend):
    """A target whose SDK is not installed here: its root module can still be rendered, by the
    same module mixin as its backend (`backends/modules.py`), from the configuration alone; it
    runs nothing."""

    def __init__(self, target: str, missing: LabctlError) -> None:
        self.name = target  # type: ignore[misc]
        self.missing = missing  # why the real backend is not available
        self.configure_without_sdk()

    def configure_without_sdk(self) -> None:
        """Set what the module mixin reads (region, project) from configuration."""

    def check(self, lab: Lab) -> list[Finding]:
        """One finding for the whole lab: nothing can run here until the SDK is installed."""
        hint = f"; {self.missing.hint}" if self.missing.hint else ""
        return [Finding("", f"{self.missing.message}{hint}")]

    def teardown(self, resource: Resource, ledger: Ledger) -> None:
        raise Unsupported(f"the {self.name} backend is not available to delete {resource.name}")


def backend_for_render(target: str) -> Backend:
    """The target's backend, or a RenderOnly stand-in when its SDK is not installed."""
    try:
        return get_backend(target)
    except (MissingExtra, Unsupported) as exc:
        from labctl.backends.modules import MODULES

        mixin = MODULES[target]
        return type(f"{mixin.__name__}RenderOnly", (mixin, RenderOnly), {})(target, exc)
