"""One-time job runs (`jobs/runs/submit`): code upload, ledger row, submit, wait, result."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from databricks.sdk.service import jobs
from databricks.sdk.service.workspace import ImportFormat

from labctl import naming
from labctl.backends.base import Context
from labctl.backends.databricks.clusters import spot_applies
from labctl.errors import BackendError

WAIT_MARGIN = 1800  # cluster start and teardown beyond a step's own runtime
DATA_ROOT = "dbfs:/labctl"
LAUNCHER = "labctl_job.py"
RESULT = "#labctl-result "
TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
CODE_FILES = (
    "labctl/__init__.py",
    "labctl/errors.py",
    "labctl/entrypoints/__init__.py",
    "labctl/entrypoints/contract.py",
    "labctl/entrypoints/_tracking.py",
    "labctl/datagen/__init__.py",
    "labctl/analogues/__init__.py",
    "labctl/analogues/databricks.py",
)


_PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the folder holding the labctl package


class JobRuns:
    # --- jobs ---------------------------------------------------------------------------------

    def _job(
        self,
        ctx: Context,
        step_name: str,
        *,
        kind: str,
        node_type: str,
        workers: int,
        spot: bool,
        timeout: int,
        params: list[str],
        what: str,
        code: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Upload the code, record, submit, wait for one run; its `#labctl-result` as a dict."""
        code_dir = self._upload_code(ctx, step_name, code)
        run_name = f"{step_name}-{ctx.run.id}"
        price = self._dbu_price(ctx, "jobs-compute", node_type)
        price_attrs = price.pop("attrs")
        res = ctx.ledger.add_resource(
            ctx.run,
            kind=kind,
            name=run_name,
            region=self.region,
            instance_type=node_type,
            instance_count=workers + 1,
            spot=spot_applies(spot, workers),
            **price,
            attrs={**price_attrs, "step": step_name, "workers": workers, **(attrs or {})},
        )
        cluster = self._cluster(ctx, node_type, workers, spot, env or {})
        if cluster.node_type_id != node_type:  # priced as the catalog's type, run as the cloud's
            ctx.ledger.update_resource(res.id, attrs={"node_type_id": cluster.node_type_id})
        task = jobs.SubmitTask(
            task_key="main",
            new_cluster=cluster,
            spark_python_task=jobs.SparkPythonTask(
                python_file=f"{code_dir}/{LAUNCHER}",
                parameters=params,
                source=jobs.Source.WORKSPACE,
            ),
            timeout_seconds=timeout,
        )
        with ctx.creating(res):
            waiter = self._api(
                "submit run",
                self.w.jobs.submit,
                step=step_name,
                run_name=run_name,
                tasks=[task],
                timeout_seconds=timeout,
                idempotency_token=res.id,
            )
        run_id = int(waiter.run_id)
        ctx.ledger.update_resource(
            res.id, status="PENDING", provider_id=str(run_id), attrs={"run_id": run_id}
        )
        with ctx.reporter.task(what) as progress:
            try:
                run = self._wait_run(run_id, step_name, timeout, progress)
            except KeyboardInterrupt:
                with contextlib.suppress(BackendError):
                    self._api("cancel run", self.w.jobs.cancel_run, gone_ok=True, run_id=run_id)
                ctx.ledger.close_resource(res.id, status="CANCELED")
                raise
        state = _result_state(run)
        seconds = _run_seconds(run)
        output = self._run_output(run)
        result = _parse_result(output)
        ctx.ledger.update_resource(
            res.id,
            attrs={"run_page_url": run.run_page_url, **_tracked_attrs(result)},
        )
        ctx.ledger.close_resource(res.id, status=state, billable_seconds=seconds)
        if state != "SUCCESS":
            message = (run.state.state_message if run.state else "") or "no message"
            raise BackendError(
                f"step '{step_name}': job run {run_id} {state}: {message}",
                hint=f"the run's page shows its logs: {run.run_page_url or 'Jobs > Job runs'}",
            )
        return {**result, "run_id": run_id, "run_page_url": run.run_page_url,
                "billable_seconds": seconds}  # fmt: skip

    def _wait_run(self, run_id: int, step_name: str, timeout: float, task: Any) -> jobs.Run:
        deadline = self._clock() + timeout
        shown = None
        while True:
            run = self._api("get run", self.w.jobs.get_run, step=step_name, run_id=run_id)
            state = _life_cycle(run)
            if state != shown:
                task.advance(0, description=f"job run {run_id}: {state}")
                shown = state
            if state in TERMINAL:
                return run
            if self._clock() >= deadline:
                raise BackendError(
                    f"step '{step_name}': job run {run_id} is still {state} after "
                    f"{timeout / 60:.0f} minutes",
                    hint="it keeps running on Databricks; `labctl down` cancels it",
                )
            self._sleep(self.poll_seconds)

    def _run_output(self, run: jobs.Run) -> str:
        """The stdout of the run's task (where the launcher prints its result)."""
        task_run = (run.tasks or [None])[0]
        run_id = task_run.run_id if task_run and task_run.run_id else run.run_id
        out = self._api("get run output", self.w.jobs.get_run_output, gone_ok=True, run_id=run_id)
        if out is None:
            return ""
        return (out.logs or "") + ("\n" + out.error if out.error else "")

    # --- plumbing -----------------------------------------------------------------------------

    def _data_root(self, ctx: Context) -> str:
        """The lab's data folder (the module's `data_root`: its Unity Catalog volume, else a DBFS
        folder), in the ledger (so `down` empties it) before first use."""
        root = ctx.infra.get("data_root") or (
            f"{DATA_ROOT}/{naming.label_value(ctx.run.engineer)}/{ctx.lab_name}"
        )
        if not any(r.kind == "bucket" for r in ctx.ledger.open_resources(ctx.run.id)):
            res = ctx.ledger.add_resource(ctx.run, kind="bucket", name=root, region=self.region)
            ctx.ledger.update_resource(res.id, status="created", provider_id=root)
        return root

    def _upload_code(self, ctx: Context, step_name: str, extra: tuple[str, ...]) -> str:
        """The launcher and the step's modules into `<workspace folder>/code` (overwritten)."""
        code_dir = f"{ctx.output('workspace_folder')}/code"
        root = _PACKAGE_ROOT
        files = {LAUNCHER: root / "labctl" / "backends" / "databricks" / "job.py"}
        files |= {rel: root / rel for rel in (*CODE_FILES, *extra)}
        files = {
            rel: src for rel, src in files.items() if f"{code_dir}/{rel}" not in self._uploaded
        }
        for folder in sorted({str(Path(code_dir, rel).parent) for rel in files}):
            self._api("create workspace folder", self.w.workspace.mkdirs, step=step_name,
                      path=folder)  # fmt: skip
        for rel, source in files.items():
            self._api(
                "upload code",
                self.w.workspace.upload,
                step=step_name,
                path=f"{code_dir}/{rel}",
                content=source.read_bytes(),
                format=ImportFormat.AUTO,
                overwrite=True,
            )
            self._uploaded.add(f"{code_dir}/{rel}")
        return code_dir

    def _single_node_job(
        self, ctx: Context, step_name: str, *, params: list[str], what: str, **job: Any
    ) -> dict[str, Any]:
        """A one-hour-at-most run on one on-demand node of the workspace's default node type
        (data generation, services run as jobs)."""
        return self._job(
            ctx,
            step_name,
            kind="training-job",
            node_type=ctx.output("node_type_id"),
            workers=0,
            spot=False,
            timeout=3600 + WAIT_MARGIN,
            params=params,
            what=what,
            **job,
        )

    def _dbu_price(self, ctx: Context, usage: str, instance_type: str) -> dict[str, Any]:
        """Ledger fields of one node's price at launch: DBUs x the workload's rate + the VM
        (serverless serving has no VM); the sum is `price_per_hour`, the parts go in attrs."""
        price = ctx.prices.lookup(
            cloud="databricks", usage=usage, instance_type=instance_type, region=self.region
        )
        if price is None:
            return {"attrs": {}}
        vm = ctx.prices.lookup(
            cloud="databricks", usage="vm", instance_type=instance_type, region=self.region
        )
        vm_usd = vm.usd_per_hour if vm is not None and usage != "model-serving" else 0.0
        return {
            "price_per_hour": price.usd_per_hour,
            "price_source": str(price.source)[:200],
            "attrs": {
                "dbu_usd_per_hour": round(price.usd_per_hour - vm_usd, 6),
                "vm_usd_per_hour": vm_usd,
                "price_detail": price.detail,
            },
        }


def _life_cycle(run: jobs.Run) -> str:
    state = run.state.life_cycle_state if run.state else None
    return state.value if state is not None else "PENDING"


def _run_seconds(run: jobs.Run) -> float | None:
    """How long a finished run took (what its clusters bill for), from its own times."""
    return (run.end_time - run.start_time) / 1000 if run.end_time and run.start_time else None


def _result_state(run: jobs.Run) -> str:
    state = run.state.result_state if run.state else None
    return state.value if state is not None else _life_cycle(run)


def _parse_result(output: str) -> dict[str, Any]:
    """The launcher's `#labctl-result` line (the last one) from the run's output."""
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :])
    return {}


def _tracked_attrs(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("metrics", "tracking") if result.get(k)}
