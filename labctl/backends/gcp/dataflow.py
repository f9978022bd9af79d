"""The `dataflow` service step on gcp: labctl's Beam pipeline as a Dataflow streaming job.

`labctl.pipelines.beam_sales_features` (the pipeline the local target runs on the DirectRunner)
is submitted to Dataflow by a short Vertex AI CustomJob, the launcher, as Vertex AI Pipelines'
own Dataflow component does: the launcher installs the pipeline package (the module and
apache-beam[gcp]) from the lab's bucket, runs the module's `dataflow` mode with Beam's
DataflowRunner, and writes the job id to the bucket. The streaming job reads the lab's Pub/Sub
subscription, appends windowed features to `<dataset>.streaming_features`, runs as the lab's
service account, stages in the lab's bucket and carries the labctl labels. Both ledger rows (the
launcher, priced as training; the Dataflow job, priced per worker: vCPU, memory, disk) are
written before anything exists; `down` cancels the job through the Dataflow REST API and waits
for it to stop, before Terraform removes the bucket, the subscription and the dataset.

Design choice: launching from a Vertex job keeps Apache Beam off the laptop (apache-beam[gcp]
pins google-cloud-aiplatform below 2 and protobuf below 7, which the gcp extra cannot share);
the laptop needs Beam only to run the pipeline locally (`labctl[beam]`). Cancelling and status
are two REST calls with the ADC credentials.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.cloud import aiplatform_v1 as aip

from labctl.analogues.dataflow import windows
from labctl.backends.base import Context
from labctl.backends.gcp.client import JOB_DONE
from labctl.backends.gcp.images import TRAINING_IMAGES
from labctl.backends.gcp.messages import _fuse, _labels, _seconds, machine_spec, vertex_name
from labctl.backends.gcp.package import build_beam_package
from labctl.backends.gcp.pipelines import deadline
from labctl.backends.gcp.pricing import STREAMING_DISK_GB, dataflow_worker
from labctl.catalog import ServiceStep
from labctl.errors import BackendError, Unsupported
from labctl.ledger import Resource, naive_utc, utcnow
from labctl.pipelines import BEAM_MODULE

DATAFLOW_API = "https://dataflow.googleapis.com/v1b3"
DATAFLOW_DONE = (
    "JOB_STATE_DONE",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_UPDATED",
    "JOB_STATE_DRAINED",
)
CANCEL_TIMEOUT = 900
LAUNCH_TIMEOUT = 1800  # the launcher installs Beam and submits: minutes, not hours
LAUNCHER_MACHINE = "n1-standard-4"
LAUNCHER_IMAGE = TRAINING_IMAGES["sklearn"]  # a prebuilt Python image; Beam comes from pip
FEATURES_TABLE = "streaming_features"


def dataflow_args(
    *,
    project: str,
    region: str,
    job_name: str,
    service_account: str,
    bucket: str,
    labels: dict[str, str],
    machine_type: str,
    max_workers: int,
    package: str,
    max_runtime_seconds: int,
) -> list[str]:
    """The DataflowRunner options of the lab's streaming job (Beam's command-line flags).

    `max_runtime_seconds` is enforced by Dataflow itself: the job is cancelled then, with no
    laptop awake (the lab's deadline, as endpoints have one)."""
    return [
        "--runner=DataflowRunner",
        f"--project={project}",
        f"--region={region}",
        f"--job_name={job_name}",
        f"--service_account_email={service_account}",
        f"--staging_location=gs://{bucket}/dataflow/staging",
        f"--temp_location=gs://{bucket}/dataflow/tmp",
        "--streaming",
        "--enable_streaming_engine",
        f"--machine_type={machine_type}",
        "--num_workers=1",
        f"--max_num_workers={max_workers}",
        f"--disk_size_gb={STREAMING_DISK_GB}",
        f"--extra_package={package}",
        f"--dataflow_service_options=max_workflow_runtime_walltime_seconds={max_runtime_seconds}",
        *(f"--labels={k}={v}" for k, v in sorted(labels.items())),
    ]


def utcnow_aware() -> datetime:
    return utcnow().replace(tzinfo=UTC)


def job_name(step: ServiceStep, run_id: str) -> str:
    """A Dataflow job name: [a-z]([-a-z0-9]*[a-z0-9])?, at most 63 characters here."""
    return vertex_name(step.name, run_id, limit=63).lower().replace("_", "-")


class Dataflow:
    def _dataflow(self, step: ServiceStep, ctx: Context) -> dict[str, Any]:
        """Launch the step's Beam pipeline on Dataflow (ledger rows first) and return its job."""
        if str(step.settings.get("source", "pubsub")) != "pubsub":
            raise Unsupported(f"step '{step.name}': Dataflow reads only a Pub/Sub source here")
        machine = str(step.settings.get("machine_type", "n1-standard-2"))
        workers = int(step.settings.get("max_workers", 1))  # type: ignore[arg-type]
        sizes = windows(step)
        name = job_name(step, ctx.run.id)
        bucket = ctx.output("bucket")
        out = f"gs://{bucket}/dataflow/{name}/"
        subscription = ctx.output("pubsub_subscription")
        table = f"{self.project}:{ctx.output('bigquery_dataset')}.{FEATURES_TABLE}"
        package = self._beam_package(ctx, step.name)
        beam_args = dataflow_args(
            project=self.project,
            region=self.region,
            job_name=name,
            service_account=ctx.output("service_account_email"),
            bucket=bucket,
            labels=_labels(ctx),
            machine_type=machine,
            max_workers=workers,
            package=_fuse(package),
            max_runtime_seconds=max(int((deadline(ctx) - utcnow_aware()).total_seconds()), 600),
        )
        args = [
            "dataflow",
            f"--subscription={subscription}",
            f"--table={table}",
            f"--windows_minutes={','.join(map(str, sizes))}",
            f"--job_id_file={_fuse(out)}job.json",
            "--",
            *beam_args,
        ]
        launcher = aip.CustomJob(
            display_name=f"{name}-launch",
            labels=_labels(ctx),
            job_spec=aip.CustomJobSpec(
                worker_pool_specs=[
                    aip.WorkerPoolSpec(
                        replica_count=1,
                        machine_spec=machine_spec(LAUNCHER_MACHINE),
                        python_package_spec=aip.PythonPackageSpec(
                            executor_image_uri=LAUNCHER_IMAGE.format(registry=self.registry),
                            package_uris=[package],
                            python_module=BEAM_MODULE,
                            args=args,
                        ),
                    )
                ],
                service_account=ctx.output("service_account_email"),
                base_output_directory=aip.GcsDestination(output_uri_prefix=out),
            ),
        )
        flow = self._add(
            ctx,
            "service",
            name,
            with_price=False,
            instance_type=machine,
            instance_count=workers,
            **dataflow_worker(ctx.prices, machine, self.region),
            attrs={"step": step.name, "service": "dataflow", "vertex": "dataflow-job"},
        )
        launch = self._add(
            ctx,
            "training-job",
            f"{name}-launch",
            instance_type=LAUNCHER_MACHINE,
            attrs={"step": step.name, "vertex": "custom-job", "launches": name},
        )
        with ctx.creating(flow), ctx.creating(launch):
            created = self._api(
                "job",
                "create_custom_job",
                step=step.name,
                request=aip.CreateCustomJobRequest(parent=self.parent, custom_job=launcher),
            )
        ctx.ledger.update_resource(launch.id, status="JOB_STATE_QUEUED", provider_id=created.name)
        with ctx.reporter.task(f"{step.name}: launching Dataflow job {name}") as t:
            final = self._wait(
                f"Dataflow launcher {name}-launch",
                lambda: self._api("job", "get_custom_job", step=step.name, name=created.name),
                done=JOB_DONE,
                timeout=LAUNCH_TIMEOUT,
                task=t,
            )
        state = final.state.name
        ctx.ledger.close_resource(
            launch.id,
            status=state,
            billable_seconds=_seconds(final.start_time, final.end_time),
            stopped_at=naive_utc(final.end_time),
        )
        job_id = self._launched_job_id(f"{out}job.json") if state == "JOB_STATE_SUCCEEDED" else None
        if job_id is None:
            ctx.ledger.close_resource(flow.id, status="not-created")
            raise BackendError(
                f"step '{step.name}': the Dataflow launcher {name}-launch {state}"
                + (f": {final.error.message}" if final.error.message else "; it wrote no job id"),
                hint="its log is on the job's page in the Vertex AI console",
            )
        ctx.ledger.update_resource(flow.id, status="Running", provider_id=job_id)
        return {
            "job": name,
            "job_id": job_id,
            "runner": "DataflowRunner",
            "pipeline": BEAM_MODULE,
            "subscription": subscription,
            "table": table,
            "windows_minutes": sizes,
            "console": f"https://console.cloud.google.com/dataflow/jobs/{self.region}/{job_id}"
            f"?project={self.project}",
        }

    def _beam_package(self, ctx: Context, step_name: str) -> str:
        """The Beam pipeline package in the lab's bucket (uploaded once per content)."""
        data, digest = build_beam_package()
        key = f"code/labctl-beam-pipelines-{digest}.tar.gz"
        with tempfile.TemporaryDirectory(prefix="labctl-beam-") as tmp:
            path = Path(tmp) / Path(key).name
            path.write_bytes(data)
            self._upload_many(step_name, ctx.output("bucket"), [(path, key)])
        return f"gs://{ctx.output('bucket')}/{key}"

    def _launched_job_id(self, uri: str) -> str | None:
        """The job id the launcher wrote, or None."""
        bucket, _, key = uri.removeprefix("gs://").partition("/")
        try:
            raw = self._storage().bucket(bucket).blob(key).download_as_bytes()
            return str(json.loads(raw)["job_id"])
        except (gexc.GoogleAPIError, auth_exc.GoogleAuthError, ValueError, KeyError):
            return None

    # --- REST: status and cancel ----------------------------------------------------------------

    def _dataflow_session(self) -> Any:
        """An authorised HTTP session for the Dataflow REST API (ADC credentials)."""
        if "dataflow" not in self._clients:
            from google.auth.transport.requests import AuthorizedSession

            credentials, _ = self._adc()
            self._clients["dataflow"] = AuthorizedSession(credentials)
        return self._clients["dataflow"]

    def _dataflow_call(self, method: str, job_id: str, body: dict | None = None) -> dict | None:
        """GET or PUT one job; None when it is gone (404)."""
        url = f"{DATAFLOW_API}/projects/{self.project}/locations/{self.region}/jobs/{job_id}"
        import requests

        try:
            response = self._dataflow_session().request(method, url, json=body, timeout=60)
        except (requests.RequestException, auth_exc.GoogleAuthError) as exc:
            raise BackendError(
                f"Dataflow {method} job {job_id}: {str(exc).splitlines()[0][:200]}",
                hint="check the network and `labctl doctor`; `labctl down` again to retry",
            ) from None
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise BackendError(
                f"Dataflow {method} job {job_id}: HTTP {response.status_code} "
                f"{response.text[:300]}",
                hint="`labctl doctor` checks the credentials",
            )
        return response.json()

    def _dataflow_state(self, resource: Resource) -> str:
        job = self._dataflow_call("GET", resource.provider_id or "")
        return "gone" if job is None else str(job.get("currentState", "unknown"))

    def _cancel_dataflow(self, resource: Resource) -> None:
        """Cancel the job and wait until it has stopped; already stopped or gone is success."""
        job_id = resource.provider_id or ""
        job = self._dataflow_call("GET", job_id)
        if job is None or job.get("currentState") in DATAFLOW_DONE:
            return
        self._dataflow_call("PUT", job_id, {"requestedState": "JOB_STATE_CANCELLED"})
        deadline = self._clock() + CANCEL_TIMEOUT
        while True:
            job = self._dataflow_call("GET", job_id)
            if job is None or job.get("currentState") in DATAFLOW_DONE:
                return
            if self._clock() >= deadline:
                raise BackendError(
                    f"Dataflow job {resource.name} is still {job.get('currentState')} after "
                    f"{CANCEL_TIMEOUT // 60} minutes of cancelling",
                    hint="`labctl down` again once it has stopped",
                )
            self._sleep(self.poll_seconds)
