"""AWS's bill: Cost Explorer GetCostAndUsage, daily, grouped by the labctl-engineer and
labctl-lab cost allocation tags. Imported only by `labctl cost sync`.

The tags count in Cost Explorer only once activated as cost allocation tags (Billing console);
each request costs $0.01.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from labctl.actuals import BilledRecord
from labctl.backends.aws.errors import CREDENTIALS_HINT, aws_error, is_credentials_error
from labctl.errors import BackendError
from labctl.naming import TAG_KEYS

METRIC = "UnblendedCost"
SOURCE = f"aws-ce:{METRIC}"
ENGINEER_TAG, LAB_TAG = TAG_KEYS[0], TAG_KEYS[1]


def request(start: date, end: date) -> dict[str, Any]:
    """The GetCostAndUsage parameters: usage cost before credits and refunds, per UTC day."""
    return {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": [METRIC],
        "GroupBy": [{"Type": "TAG", "Key": ENGINEER_TAG}, {"Type": "TAG", "Key": LAB_TAG}],
        "Filter": {"Not": {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Credit", "Refund"]}}},
    }


def billed_costs(start: date, end: date, *, client: Any = None) -> list[BilledRecord]:
    """Tagged cost per day, engineer and lab in [start, end); untagged cost is left out."""
    ce = client or boto3.client("ce", region_name="us-east-1")  # Cost Explorer's one endpoint
    params = request(start, end)
    records: list[BilledRecord] = []
    try:
        while True:
            page = ce.get_cost_and_usage(**params)
            for period in page.get("ResultsByTime", []):
                day = date.fromisoformat(period["TimePeriod"]["Start"])
                for group in period.get("Groups", []):
                    tags = dict(_tag(k) for k in group.get("Keys", []))
                    metric = group.get("Metrics", {}).get(METRIC, {})
                    unit = metric.get("Unit", "USD")
                    amount = float(metric.get("Amount", 0) or 0)
                    records.append(BilledRecord(
                        day, tags.get(ENGINEER_TAG, ""), tags.get(LAB_TAG, ""), amount, unit,
                        amount if unit == "USD" else None, SOURCE,
                    ))  # fmt: skip
            token = page.get("NextPageToken")
            if not token:
                return records
            params["NextPageToken"] = token
    except ClientError as exc:
        err = aws_error(exc, service="ce")
        if exc.response.get("Error", {}).get("Code") == "DataUnavailableException":
            err.hint = "Cost Explorer has no data yet: enable it in the Billing console (24 h)"
        raise err from None
    except BotoCoreError as exc:
        raise BackendError(
            f"Cost Explorer: {exc}",
            hint=CREDENTIALS_HINT if is_credentials_error(exc) else None,
        ) from None


def _tag(key: str) -> tuple[str, str]:
    """'labctl-engineer$ana-example-com' -> ('labctl-engineer', 'ana-example-com')."""
    name, _, value = key.partition("$")
    return name, value
