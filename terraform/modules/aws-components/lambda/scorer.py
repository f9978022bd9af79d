"""labctl scorer Lambda: records -> the lab's SageMaker endpoint -> scores.

Two event shapes:
* Kinesis (an event source mapping): each record's data is a JSON object or a CSV line of
  features; the batch is scored in one InvokeEndpoint call and the scores are logged;
* API Gateway HTTP API (payload 2.0): the body is CSV lines or {"instances": [[...], ...]};
  the response is {"predictions": [...]}.

The endpoint is ENDPOINT_NAME, else the newest InService endpoint whose name starts with
ENDPOINT_NAME_PREFIX (labctl names it `<deploy step>-<run>`; the role may invoke only those).
Only boto3 (in the Lambda runtime) is used.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

_cache: dict[str, str] = {}


def endpoint_name(client: Any) -> str:
    if os.environ.get("ENDPOINT_NAME"):
        return os.environ["ENDPOINT_NAME"]
    if "name" not in _cache:
        prefix = os.environ.get("ENDPOINT_NAME_PREFIX", "")
        found = client.list_endpoints(
            NameContains=prefix, StatusEquals="InService", SortBy="CreationTime",
            SortOrder="Descending",
        )["Endpoints"]  # fmt: skip
        names = [e["EndpointName"] for e in found if e["EndpointName"].startswith(prefix)]
        if not names:
            raise RuntimeError(f"no InService endpoint named {prefix}*: is the lab deployed?")
        _cache["name"] = names[0]
    return _cache["name"]


def csv_line(record: Any) -> str:
    """One row of features as CSV (the SageMaker built-ins' text/csv input)."""
    if isinstance(record, dict):
        record = list(record.values())
    if isinstance(record, list):
        return ",".join(str(v) for v in record)
    return str(record).strip()


def score(lines: list[str]) -> list[float]:
    import boto3

    runtime = boto3.client("sagemaker-runtime")
    reply = runtime.invoke_endpoint(
        EndpointName=endpoint_name(boto3.client("sagemaker")),
        ContentType="text/csv",
        Body="\n".join(lines).encode(),
    )
    text = reply["Body"].read().decode()
    return [float(v) for v in text.replace("\n", ",").split(",") if v.strip()]


def _kinesis(event: dict[str, Any]) -> dict[str, Any]:
    lines = []
    for record in event["Records"]:
        data = base64.b64decode(record["kinesis"]["data"]).decode()
        try:
            lines.append(csv_line(json.loads(data)))
        except json.JSONDecodeError:
            lines.append(csv_line(data))
    scores = score(lines)
    print(json.dumps({"records": len(lines), "scores": scores[:20]}))
    return {"batchItemFailures": []}


def _http(event: dict[str, Any]) -> dict[str, Any]:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    try:
        parsed = json.loads(body)
        rows = parsed.get("instances", []) if isinstance(parsed, dict) else parsed
        lines = [csv_line(r) for r in rows]
    except json.JSONDecodeError:
        lines = [line for line in body.splitlines() if line.strip()]
    if not lines:
        return {"statusCode": 400, "body": json.dumps({"error": "no instances in the body"})}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"predictions": score(lines)}),
    }


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    if "Records" in event:
        return _kinesis(event)
    return _http(event)
