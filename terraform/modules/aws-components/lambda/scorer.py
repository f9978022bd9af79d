"""labctl scorer Lambda: records -> the lab's SageMaker endpoint -> scores.

Two event shapes:
* Kinesis (an event source mapping): each record's data is a JSON object or a CSV line of
  features; the batch is scored in one InvokeEndpoint call and the scores are logged;
* API Gateway HTTP API (payload 2.0): the body is CSV lines or {"instances": [[...], ...]};
  the response is {"predictions": [...]}.

The endpoint is ENDPOINT_NAME (the module sets it to `<deploy step>-<run>`, as labctl's AWS
backend names it; the role may invoke only endpoints named `<deploy step>-*`). Only boto3 (in
the Lambda runtime) is used.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any


def endpoint_name() -> str:
    name = os.environ.get("ENDPOINT_NAME", "")
    if not name or name.startswith("-"):
        raise RuntimeError("no ENDPOINT_NAME: the lab has no deploy step for this function")
    return name


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
        EndpointName=endpoint_name(),
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
