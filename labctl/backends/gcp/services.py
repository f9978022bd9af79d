"""The BigQuery / BigQuery ML service steps on gcp, as load and query jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc

from labctl.backends.base import Context
from labctl.backends.gcp import bigquery as gcp_bigquery
from labctl.backends.gcp.client import OPERATION_TIMEOUT
from labctl.backends.gcp.data import _data_step_result
from labctl.backends.gcp.errors import _error
from labctl.backends.gcp.messages import _labels
from labctl.backends.modules import BIGQUERY
from labctl.catalog import ServiceStep
from labctl.errors import Unsupported


class Services:
    def service(self, *, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        """BigQuery / BigQuery ML steps as load and query jobs, Dataflow as a Beam streaming
        job (gcp.dataflow); other services refused."""
        if step.service == "dataflow":
            return self._dataflow(step, ctx)
        if step.service not in BIGQUERY:
            if not step.optional:
                raise Unsupported(
                    f"step '{step.name}': labctl does not provision '{step.service}' on gcp yet",
                    hint="the lab cannot run on gcp until it does",
                )
            ctx.reporter.warn(f"step '{step.name}': '{step.service}' is not provisioned; skipped")
            return {
                "skipped": f"'{step.service}' is not provisioned by labctl on gcp yet (optional)"
            }
        kind = gcp_bigquery.kind(step)
        dataset = f"{self.project}.{ctx.output('bigquery_dataset')}"
        wanted = step.settings.get("location")
        if wanted and str(wanted).lower() != self.region:
            ctx.reporter.warn(
                f"step '{step.name}': the lab's BigQuery dataset is in {self.region} (the "
                f"Terraform module's region), not {wanted}; jobs run there"
            )
        labels = _labels(ctx)
        if kind == "load":
            data = _data_step_result(ctx, step.name)
            columns = data.get("raw_columns", {})
            jobs = gcp_bigquery.load_jobs(
                step, source=data["raw"], table_prefix=dataset, columns=columns, labels=labels
            )
            done = [
                self._bq_job(
                    ctx,
                    step,
                    "load",
                    lambda u=u, t=t, c=c: self._bq().load_table_from_uri(u, t, job_config=c),
                    detail=t,
                )
                for u, t, c in jobs
            ]
            return {"dataset": dataset, "tables": [t for _, t, _ in jobs], "jobs": done}
        done = [
            self._bq_job(
                ctx,
                step,
                "query",
                lambda s=sql, c=cfg: self._bq().query(s, job_config=c),
                detail=sql.splitlines()[0][:80],
            )
            for sql, cfg in gcp_bigquery.statements(step, dataset, labels)
        ]
        return {"dataset": dataset, "kind": kind, "jobs": done}

    def _bq_job(
        self, ctx: Context, step: ServiceStep, kind: str, submit: Callable[[], Any], detail: str
    ) -> dict[str, Any]:
        """Run one BigQuery job (ledger row first; billed per byte, so no hourly price)."""
        res = self._add(
            ctx,
            "service",
            f"{step.name}-{kind}-{detail}"[:200],
            with_price=False,
            attrs={"step": step.name, "service": step.service, "job": kind},
        )
        with ctx.creating(res), ctx.reporter.task(f"{step.name}: {detail}"):
            try:
                job = submit()
                job.result(timeout=OPERATION_TIMEOUT)
            except (gexc.GoogleAPIError, auth_exc.GoogleAuthError) as exc:
                raise _error(exc, f"BigQuery {kind} job ({detail})", step.name) from None
        billed = getattr(job, "total_bytes_billed", None)
        ctx.ledger.update_resource(res.id, provider_id=job.job_id, attrs={"bytes_billed": billed})
        ctx.ledger.close_resource(res.id, status="DONE")
        return {"job_id": job.job_id, "what": detail, "bytes_billed": billed}
