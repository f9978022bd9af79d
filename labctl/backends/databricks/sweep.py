"""`labctl sweep` on databricks: serving endpoints, active job runs and registered models that
carry the labctl tags (or, for everyone's sweep, the `labctl-` name prefix), and their deletion.

Endpoints carry the tags labctl created them with; job runs carry them as their cluster's custom
tags; registered models are found by tag or by the `labctl-` prefix of their name (the models a
lab's job registers are named `labctl-<engineer>-<lab>-...`). A name-prefix match without tags
names no engineer, so it is listed only when sweeping for every engineer. Deletion is the
databricks teardown's own (endpoints deleted, runs cancelled, models deleted).
"""

from __future__ import annotations

from typing import Any

from labctl.backends.databricks.backend import DatabricksBackend
from labctl.sweep import ENGINEER_TAG, DetachedLedger, Stray

PREFIX = "labctl-"


def discover(backend: DatabricksBackend, engineer_tag: str | None) -> list[Stray]:
    """Tagged (or labctl-named) endpoints, active runs and registered models in the workspace."""
    w = backend.w
    found: list[Stray] = []
    for ep in backend._api("list serving endpoints", lambda: list(w.serving_endpoints.list())):
        tags = {t.key: t.value or "" for t in ep.tags or []}
        if _wanted(tags, ep.name or "", engineer_tag):
            stray = Stray("databricks", "endpoint", ep.name or "", ep.name or "",
                          backend.region, tags)  # fmt: skip
            _serving(backend, stray)
            found.append(stray)
    runs = backend._api(
        "list active runs", lambda: list(w.jobs.list_runs(active_only=True, expand_tasks=True))
    )
    for run in runs:
        clusters = [t.new_cluster for t in run.tasks or [] if t.new_cluster]
        tags = dict(clusters[0].custom_tags or {}) if clusters else {}
        if _wanted(tags, "", engineer_tag):
            stray = Stray("databricks", "training-job", run.run_name or str(run.run_id),
                          str(run.run_id), backend.region, tags,
                          _life_cycle(run), attrs={"run_id": run.run_id})  # fmt: skip
            stray.instances = [(c.node_type_id, (c.num_workers or 0) + 1)
                               for c in clusters if c.node_type_id]  # fmt: skip
            found.append(stray)
    models = backend._api(
        "search registered models",
        lambda: list(w.model_registry.search_models(filter=f"name LIKE '{PREFIX}%'")),
    )
    for model in models:
        tags = {t.key: t.value or "" for t in model.tags or [] if t.key}
        if _wanted(tags, model.name or "", engineer_tag):
            found.append(Stray("databricks", "model", model.name or "", model.name or "",
                               backend.region, tags, "registered"))  # fmt: skip
    return found


def delete(backend: DatabricksBackend, stray: Stray, ledger: DetachedLedger) -> None:
    """Delete (or cancel) one stray through the databricks teardown; gone counts as deleted."""
    backend.teardown(stray.as_resource(), ledger)  # type: ignore[arg-type]


# --- internals ----------------------------------------------------------------------------------


def _wanted(tags: dict[str, str], name: str, engineer_tag: str | None) -> bool:
    if ENGINEER_TAG in tags:
        return engineer_tag in (None, tags[ENGINEER_TAG])
    return engineer_tag is None and name.startswith(PREFIX)


def _life_cycle(run: Any) -> str:
    state = run.state.life_cycle_state if run.state else None
    return state.value if state is not None else ""


def _serving(backend: DatabricksBackend, stray: Stray) -> None:
    """State and served sizes of an endpoint (scale-to-zero endpoints bill only when serving)."""
    ep = backend._api("get serving endpoint", backend.w.serving_endpoints.get, gone_ok=True,
                      name=stray.name)  # fmt: skip
    if ep is None:
        return
    ready = ep.state.ready.value if ep.state and ep.state.ready else ""
    stray.status = ready or "unknown"
    entities = (ep.config.served_entities or []) if ep.config else []
    stray.instances = [(e.workload_size.lower(), 1) for e in entities if e.workload_size]
    if any(e.scale_to_zero_enabled for e in entities):
        stray.status += " (scale to zero)"
