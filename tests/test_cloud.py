"""Against a real AWS account: opt in with LABCTL_CLOUD_TESTS=aws and working credentials.

It bills (a few cents: 1,000 rows, 2 tuning jobs on spot, an endpoint for minutes) and always
tears down, even when an assertion fails. Run: LABCTL_CLOUD_TESTS=aws pytest -m cloud
"""

from __future__ import annotations

import os

import pytest

pytestmark = [pytest.mark.cloud, pytest.mark.aws]


@pytest.fixture
def aws_account():
    if "aws" not in os.environ.get("LABCTL_CLOUD_TESTS", "").split(","):
        pytest.skip("real-account test: set LABCTL_CLOUD_TESTS=aws to run it")
    boto3 = pytest.importorskip("boto3")
    if boto3.session.Session().get_credentials() is None:
        pytest.skip("no AWS credentials in the standard chain")
    return boto3.session.Session()


def test_churn_pipeline_up_and_down_on_aws(cli, aws_account):
    try:
        up = cli("up", "churn-pipeline", "--target", "aws", "--rows", "1000", "--trials", "2",
                 "--autostop", "1h", "--json", timeout=5400)  # fmt: skip
        assert up.code == 0, up.stderr
        run_id = up.json()["run"]
        status = cli("status", "--json").json()
        assert any(r["kind"] == "endpoint" for run in status for r in run["resources"])
    finally:
        down = cli("down", "churn-pipeline", "--target", "aws", "--yes", timeout=1800)
    assert down.code == 0, down.stderr
    sm = aws_account.client("sagemaker")
    left = [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]
            if run_id in e["EndpointName"]]  # fmt: skip
    assert left == []
