"""`labctl sweep`: billable resources carrying labctl's tags that the ledger does not show as open.

A lost laptop or a deleted `ledger.db` leaves endpoints and jobs running that `down` cannot see.
Everything labctl creates carries the `labctl-*` tags (labctl.naming), so each cloud is asked for
what carries them (`labctl.backends.<target>.sweep.discover`), the ledger's open resources are
subtracted (by provider id, or by kind and name), what is left is priced from the price catalog,
and, when asked, deleted in teardown order (endpoints before their configs before models; jobs
stopped) by the target's own teardown (`labctl.backends.<target>.sweep.delete`).
Untagged resources are never listed, so never deleted.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from labctl import cost, naming
from labctl.backends.base import Backend, get_backend
from labctl.errors import LabctlError, MissingExtra, PartialFailure
from labctl.ledger import RESOURCE_KINDS, Ledger, Resource
from labctl.prices import PriceBook
from labctl.progress import Reporter

TARGETS = ("aws", "gcp", "databricks")
ENGINEER_TAG = naming.TAG_KEYS[0]
# Kinds a sweep finds that the ledger never records (priced by their own catalog usage).
EXTRA_KINDS = {"notebook-instance": "notebook"}
ORDER = (*RESOURCE_KINDS, *EXTRA_KINDS)


@dataclass
class Stray:
    """One tagged resource found in a cloud, as the sweep lists and deletes it."""

    target: str
    kind: str  # a ledger kind (endpoint, model, training-job...) or one of EXTRA_KINDS
    name: str
    provider_id: str  # ARN, Vertex resource name, Databricks run id or name
    region: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    status: str = ""
    instances: list[tuple[str, int]] = field(default_factory=list)  # billed per hour, by type
    attrs: dict[str, Any] = field(default_factory=dict)  # what the target's teardown reads
    usd_per_hour: float | None = None  # None: not billed by the hour, or not in the catalog
    outcome: str = "found"  # found | deleted | failed
    error: str | None = None

    def as_resource(self) -> Resource:
        """A detached ledger row for the target's `teardown` (never added to a ledger)."""
        return Resource(
            id=f"sweep-{self.kind}",
            run_id=self.tags.get("labctl-run", ""),
            engineer=self.tags.get(ENGINEER_TAG, ""),
            lab=self.tags.get("labctl-lab", ""),
            target=self.target,
            kind=self.kind,
            name=self.name,
            provider_id=self.provider_id,
            region=self.region,
            status=self.status,
            attrs=dict(self.attrs),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "name": self.name,
            "id": self.provider_id,
            "region": self.region,
            "engineer": self.tags.get(ENGINEER_TAG),
            "lab": self.tags.get("labctl-lab"),
            "run": self.tags.get("labctl-run"),
            "status": self.status,
            "instances": [{"instance_type": t, "count": n} for t, n in self.instances],
            "usd_per_hour": self.usd_per_hour,
            "outcome": self.outcome,
            "error": self.error,
        }


class DetachedLedger:
    """What a target's `teardown` asks of the ledger, answered from the sweep's own strays: the
    other open resources of a run are the strays tagged with its `labctl-run` and not deleted
    yet (a Databricks model's teardown cancels its run's jobs first); nothing is closed."""

    def __init__(self, strays: Iterable[Stray] = ()) -> None:
        self._strays = list(strays)

    def open_resources(self, run_id: str) -> list[Resource]:
        return [
            s.as_resource()
            for s in self._strays
            if run_id and s.tags.get("labctl-run") == run_id and s.outcome != "deleted"
        ]

    def close_resource(self, res_id: str, **fields: Any) -> None:
        pass

    def update_resource(self, res_id: str, **fields: Any) -> None:
        pass


@dataclass
class SweepResult:
    strays: list[Stray]
    skipped: dict[str, str]  # target -> why it was not swept (its SDK is not installed)
    errors: dict[str, str] = field(default_factory=dict)  # target -> why discovery failed


def _module(target: str) -> Any:
    return importlib.import_module(f"labctl.backends.{target}.sweep")


def engineer_tag(engineer: str | None) -> str | None:
    """The `labctl-engineer` tag value for an engineer (None: everyone's)."""
    return naming.label_value(engineer) if engineer else None


def open_keys(ledger: Ledger, target: str) -> set[tuple[str, str]]:
    """The ledger's open resources of a target as ("id", provider id) and (kind, name) keys."""
    query = select(Resource.kind, Resource.name, Resource.provider_id).where(
        Resource.target == target, Resource.stopped_at.is_(None)
    )
    keys: set[tuple[str, str]] = set()
    with ledger.session() as s:
        for kind, name, provider_id in s.execute(query):
            keys.add((kind, name))
            if provider_id:
                keys.add(("id", provider_id))
    return keys


def price(stray: Stray, prices: PriceBook) -> float | None:
    """$/h of a stray's instances at the catalog's price; None when any is unpriced."""
    if not stray.instances:
        return None
    total = 0.0
    for instance_type, count in stray.instances:
        if stray.kind in EXTRA_KINDS:
            found = prices.lookup(cloud=stray.target, usage=EXTRA_KINDS[stray.kind],
                                  instance_type=instance_type, region=stray.region)  # fmt: skip
            hourly = found.usd_per_hour if found else None
        else:
            fields = cost.launch_price(prices, stray.target, stray.kind, instance_type,
                                       stray.region)  # fmt: skip
            hourly = fields.get("price_per_hour")
        if hourly is None:
            return None
        total += hourly * count
    return round(total, 4)


def find(
    *,
    targets: Iterable[str] = TARGETS,
    engineer: str | None,
    ledger: Ledger | None = None,
    prices: PriceBook | None = None,
    backends: dict[str, Backend] | None = None,
) -> SweepResult:
    """Tagged resources of `engineer` (None: everyone) on `targets` that the ledger does not
    show as open, priced, in teardown order. With one target, its errors are raised; with
    several, a target whose SDK is missing is skipped and one that fails (credentials,
    permissions) is reported in `errors` while the others are still swept."""
    targets = list(targets)
    ledger = ledger or Ledger()
    prices = prices or PriceBook.load()
    backends = backends if backends is not None else {}
    tag = engineer_tag(engineer)
    strays: list[Stray] = []
    skipped: dict[str, str] = {}
    errors: dict[str, str] = {}
    for target in targets:
        try:
            backend = backends.get(target) or backends.setdefault(target, get_backend(target))
            found = _module(target).discover(backend, tag)
        except LabctlError as exc:
            if len(targets) == 1:
                raise
            (skipped if isinstance(exc, MissingExtra) else errors)[target] = exc.message
            continue
        known = open_keys(ledger, target)
        for stray in found:
            if ("id", stray.provider_id) in known or (stray.kind, stray.name) in known:
                continue
            stray.usd_per_hour = price(stray, prices)
            strays.append(stray)
    strays.sort(key=lambda s: (s.target, ORDER.index(s.kind), s.name))
    return SweepResult(strays, skipped, errors)


def delete(
    strays: list[Stray], *, reporter: Reporter, backends: dict[str, Backend] | None = None
) -> None:
    """Delete strays in teardown order; one failure does not stop the others (PartialFailure)."""
    backends = backends if backends is not None else {}
    ordered = sorted(strays, key=lambda s: ORDER.index(s.kind))
    ledger = DetachedLedger(ordered)
    with reporter.task("sweep", total=len(ordered)) as task:
        for stray in ordered:
            try:
                backend = backends.get(stray.target) or backends.setdefault(
                    stray.target, get_backend(stray.target)
                )
                _module(stray.target).delete(backend, stray, ledger)
                stray.outcome = "deleted"
            except LabctlError as exc:
                stray.outcome, stray.error = "failed", exc.message
            task.advance()
    failed = [s for s in strays if s.outcome == "failed"]
    if failed:
        raise PartialFailure(
            f"{len(failed)} of {len(strays)} resource(s) could not be deleted:\n"
            + "\n".join(f"  - {s.target} {s.kind} {s.name}: {s.error}" for s in failed),
            hint="run `labctl sweep --yes` again to retry",
        )
