"""Vertex AI Model Monitoring v2 on gcp: a ModelMonitor per monitor step, run on a schedule.

The monitor watches the model the step's endpoint serves: its baseline is the training
features (a CSV with a header the data step uploads, `monitoring-baseline/train.csv`), its
target the endpoint's request-response logs in the lab's BigQuery dataset (the deploy step
turns logging on where `data_capture_percent` is set). Feature drift is measured as
labctl.drift computes it locally: Jensen-Shannon divergence for numeric features, L-infinity
for categorical ones, alert threshold 0.3. A Schedule runs a ModelMonitoringJob hourly or daily
over the last window of logs, until the lab's deadline; results go to the lab's bucket and to
Cloud Logging (and the engineer's email when their name is one).

Model Monitoring v2 exists only in the v1beta1 API: its clients are imported here, on use.
ModelMonitor and Schedule take no labels; the ledger rows name them. `down` deletes the
schedule and the monitor (forced: its jobs go with it) before the endpoint.
"""

from __future__ import annotations

from typing import Any

from labctl.backends.base import Context
from labctl.backends.gcp.messages import vertex_name
from labctl.backends.gcp.pipelines import deadline
from labctl.catalog import DeployStep, MonitorStep
from labctl.drift import CATEGORICAL_METRIC, DEFAULT_THRESHOLD, NUMERIC_METRIC
from labctl.errors import Unsupported

CRON = {"hourly": "0 * * * *", "daily": "0 3 * * *"}
WINDOW = {"hourly": "1h", "daily": "24h"}


def monitored_model(step: MonitorStep, deploy: DeployStep) -> str:
    """The train/tune step whose model the monitor watches: the endpoint's heaviest variant."""
    if deploy.variants:
        return max(deploy.variants, key=lambda v: v.weight).model
    return deploy.model


class Monitoring:
    def monitor(self, *, step: MonitorStep, ctx: Context) -> dict[str, Any]:
        """A ModelMonitor of the endpoint's model and its scheduled monitoring job."""
        from google.cloud import aiplatform_v1beta1 as beta

        deploy = ctx.lab.step(step.endpoint)
        assert isinstance(deploy, DeployStep)
        served = ctx.result(step.name, step.endpoint)
        ref = monitored_model(step, deploy)
        train = ctx.lab.train_of(ref)
        data = ctx.result(step.name, train.data)
        baseline_uri = data.get("monitoring_baseline")
        if not baseline_uri:
            raise Unsupported(f"step '{step.name}': the data step wrote no monitoring baseline")
        name = vertex_name(step.name, ctx.run.id)
        out = f"gs://{ctx.output('bucket')}/monitoring/{name}/"
        features = list(data["schema"].get("features") or [])
        baseline = beta.ModelMonitoringInput(
            columnized_dataset=beta.ModelMonitoringInput.ModelMonitoringDataset(
                gcs_source=beta.ModelMonitoringInput.ModelMonitoringDataset.ModelMonitoringGcsSource(
                    gcs_uri=baseline_uri,
                    format_="CSV",
                )
            )
        )
        threshold = beta.ModelMonitoringAlertCondition(threshold=DEFAULT_THRESHOLD)
        objective = beta.ModelMonitoringObjectiveSpec.TabularObjective(
            feature_drift_spec=beta.ModelMonitoringObjectiveSpec.DataDriftSpec(
                features=features,
                categorical_metric_type=CATEGORICAL_METRIC,
                numeric_metric_type=NUMERIC_METRIC,
                default_categorical_alert_condition=threshold,
                default_numeric_alert_condition=threshold,
            )
        )
        if "model-quality" in step.checks:  # v2 has no ground truth: the predictions' drift
            objective.prediction_output_drift_spec = (
                beta.ModelMonitoringObjectiveSpec.DataDriftSpec(
                    numeric_metric_type=NUMERIC_METRIC,
                    default_numeric_alert_condition=threshold,
                )
            )
        output = beta.ModelMonitoringOutputSpec(
            gcs_base_directory=beta.GcsDestination(output_uri_prefix=out)
        )
        engineer = ctx.run.engineer
        notify = beta.ModelMonitoringNotificationSpec(
            enable_cloud_logging=True,
            email_config=beta.ModelMonitoringNotificationSpec.EmailConfig(user_emails=[engineer])
            if "@" in engineer
            else None,
        )
        monitor = beta.ModelMonitor(
            display_name=name,
            model_monitoring_target=beta.ModelMonitor.ModelMonitoringTarget(
                vertex_model=beta.ModelMonitor.ModelMonitoringTarget.VertexModelSource(
                    model=served["models"][ref], model_version_id="1"
                )
            ),
            training_dataset=baseline,
            model_monitoring_schema=beta.ModelMonitoringSchema(
                feature_fields=[
                    beta.ModelMonitoringSchema.FieldSchema(name=f, data_type="float")
                    for f in features
                ],
                prediction_fields=[
                    beta.ModelMonitoringSchema.FieldSchema(name="prediction", data_type="float")
                ],
            ),
            tabular_objective=objective,
            output_spec=output,
            notification_spec=notify,
        )
        res = self._add(
            ctx,
            "monitoring-schedule",
            name,
            with_price=False,
            attrs={"step": step.name, "vertex": "model-monitor", "endpoint": served["resource"]},
        )
        with ctx.creating(res):
            op = self._api(
                "monitoring",
                "create_model_monitor",
                step=step.name,
                request=beta.CreateModelMonitorRequest(
                    parent=self.parent, model_monitor=monitor, model_monitor_id=name.lower()
                ),
            )
            created = self._result(op, f"creating model monitor {name}", step.name)
        ctx.ledger.update_resource(res.id, status="created", provider_id=created.name)
        job = beta.ModelMonitoringJob(
            display_name=f"{name}-run",
            model_monitoring_spec=beta.ModelMonitoringSpec(
                objective_spec=beta.ModelMonitoringObjectiveSpec(
                    tabular_objective=objective,
                    baseline_dataset=baseline,
                    target_dataset=beta.ModelMonitoringInput(
                        vertex_endpoint_logs=beta.ModelMonitoringInput.VertexEndpointLogs(
                            endpoints=[served["resource"]]
                        ),
                        time_offset=beta.ModelMonitoringInput.TimeOffset(
                            offset=WINDOW[step.schedule], window=WINDOW[step.schedule]
                        ),
                    ),
                ),
                notification_spec=notify,
                output_spec=output,
            ),
        )
        end = deadline(ctx)
        schedule = beta.Schedule(
            display_name=f"{name}-schedule",
            cron=f"TZ=UTC {CRON[step.schedule]}",
            create_model_monitoring_job_request=beta.CreateModelMonitoringJobRequest(
                parent=created.name, model_monitoring_job=job
            ),
            end_time=end,
            max_concurrent_run_count=1,
        )
        sres = self._add(
            ctx,
            "monitoring-schedule",
            f"{name}-schedule",
            with_price=False,
            attrs={"step": step.name, "vertex": "monitor-schedule", "monitor": created.name},
        )
        with ctx.creating(sres):
            made = self._api(
                "beta-schedule",
                "create_schedule",
                step=step.name,
                request=beta.CreateScheduleRequest(parent=self.parent, schedule=schedule),
            )
        ctx.ledger.update_resource(sres.id, status="ACTIVE", provider_id=made.name)
        return {
            "model_monitor": created.name,
            "schedule": made.name,
            "model": served["models"][ref],
            "baseline": baseline_uri,
            "target": f"request-response logs of {served['resource']}",
            "drift": {
                "numeric": NUMERIC_METRIC,
                "categorical": CATEGORICAL_METRIC,
                "threshold": DEFAULT_THRESHOLD,
            },
            "cron": f"{CRON[step.schedule]} (UTC), until {end.isoformat()}",
            "results": out,
        }

    def _delete_monitoring(self, resource: Any) -> None:
        """Delete a monitor schedule, or a model monitor with its jobs; gone is success."""
        from google.cloud import aiplatform_v1beta1 as beta

        if (resource.attrs or {}).get("vertex") == "monitor-schedule":
            request: Any = beta.DeleteScheduleRequest(name=resource.provider_id)
            op = self._api("beta-schedule", "delete_schedule", gone_ok=True, request=request)
        else:
            request = beta.DeleteModelMonitorRequest(name=resource.provider_id, force=True)
            op = self._api("monitoring", "delete_model_monitor", gone_ok=True, request=request)
        if op is not None:
            self._result(op, f"deleting {resource.name}", None, gone_ok=True)
