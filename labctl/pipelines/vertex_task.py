"""One task of a labctl Vertex AI pipeline, run in the pipeline's container.

Vertex AI Pipelines runs `python3 -c <this file> '<json>'`, as the pipeline's service account,
in the Google Cloud Pipeline Components image (google-cloud-aiplatform and google-cloud-bigquery
installed). The JSON says what to do:

- `{"kind": "custom-job", "parent": ..., "region": ..., "job": <CustomJob JSON>}`: create the
  CustomJob labctl built for a train step and wait for it to succeed;
- `{"kind": "bigquery", "project": ..., "region": ..., "labels": {...}, "sql": [...]}`: run the
  step's SQL statements in order;
- `{"kind": "redeploy", ..., "artifact": ..., "endpoint": ..., "variant": ...}`: upload the
  retrained model, deploy it in place of the endpoint's model of that name with its traffic
  share, then undeploy the model it replaces.

Standard library at the top: labctl never imports this module, it ships its text.
"""

import json
import sys
import time

DONE = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")


def custom_job(task: dict) -> None:
    from google.cloud import aiplatform_v1 as aip

    client = aip.JobServiceClient(
        client_options={"api_endpoint": f"{task['region']}-aiplatform.googleapis.com"}
    )
    job = aip.CustomJob.from_json(json.dumps(task["job"]))
    created = client.create_custom_job(parent=task["parent"], custom_job=job)
    print(f"created {created.name}", flush=True)
    while True:
        state = client.get_custom_job(name=created.name)
        if state.state.name in DONE:
            break
        time.sleep(30)
    if state.state.name != "JOB_STATE_SUCCEEDED":
        sys.exit(f"{created.name} {state.state.name}: {state.error.message}")


def bigquery(task: dict) -> None:
    from google.cloud import bigquery as bq

    client = bq.Client(project=task["project"], location=task["region"])
    for sql in task["sql"]:
        config = bq.QueryJobConfig(labels=task["labels"], use_legacy_sql=False)
        client.query(sql, job_config=config).result()
        print(f"ran: {sql.splitlines()[0][:100]}", flush=True)


def redeploy(task: dict) -> None:
    """The retrained model takes the place (and the traffic share) of the endpoint's deployed
    model named `variant`; the model it replaces is undeployed."""
    from google.cloud import aiplatform

    aiplatform.init(project=task["project"], location=task["region"])
    model = aiplatform.Model.upload(
        display_name=task["name"],
        artifact_uri=task["artifact"],
        serving_container_image_uri=task["image"],
        labels=task["labels"],
    )
    endpoint = aiplatform.Endpoint(task["endpoint"])
    deployed = endpoint.list_models()
    replaced = [d.id for d in deployed if d.display_name == task["variant"]]
    replaced = replaced or [d.id for d in deployed]  # none of that name: it replaces them all
    split = dict(endpoint.traffic_split)
    share = sum(split.get(i, 0) for i in replaced) if len(replaced) < len(deployed) else 100
    kept = {i: pct for i, pct in split.items() if i not in replaced}
    endpoint.deploy(
        model,
        deployed_model_display_name=task["variant"],
        machine_type=task["machine_type"],
        min_replica_count=task["min_replicas"],
        max_replica_count=task["max_replicas"],
        traffic_split={"0": share, **kept},
        service_account=task["service_account"],
    )
    for deployed_id in replaced:
        endpoint.undeploy(deployed_model_id=deployed_id)
    print(f"{task['endpoint']}: {task['variant']} now serves {model.resource_name}", flush=True)


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    {"custom-job": custom_job, "bigquery": bigquery, "redeploy": redeploy}[request["kind"]](request)
