"""labctl expiry task (terraform/modules/databricks): run by the lab's expiry job at its deadline.

Deletes the lab's Model Serving endpoints (one already gone is fine), then the job that runs
this task, so its yearly cron never comes back. Runs on the Databricks runtime, whose
databricks-sdk authenticates as the job's owner; nothing else is imported.

    expire_endpoints.py --job-id {{job.id}} --endpoint NAME [--endpoint NAME ...]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def main(argv: list[str] | None = None, client: Any = None) -> int:
    """Delete the endpoints, then the job; an endpoint that will not go fails the run (the job
    retries and stays), so the deadline is never silently missed."""
    parser = argparse.ArgumentParser(prog="expire_endpoints.py")
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--endpoint", action="append", default=[])
    args = parser.parse_args(argv)

    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import NotFound

    w = client or WorkspaceClient()
    for name in args.endpoint:
        try:
            w.serving_endpoints.delete(name)
            print(f"deleted serving endpoint {name}")
        except NotFound:
            print(f"serving endpoint {name} was already gone")
    try:
        w.jobs.delete(int(args.job_id))
        print(f"deleted job {args.job_id}")
    except NotFound:
        print(f"job {args.job_id} was already gone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
