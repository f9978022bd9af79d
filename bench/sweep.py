"""`labctl sweep` discovery over N tagged SageMaker resources in moto (ThreadedMotoServer).

Creates N tagged resources (endpoints with their endpoint configs and models, a third each) plus
`--untagged` untagged endpoints, with an empty ledger, then times `labctl.sweep.find` for the aws
target (Tagging API pass + SageMaker listings + list_tags + describes); prints seconds.

python bench/sweep.py [--resources 500] [--untagged 50]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=500)
    parser.add_argument("--untagged", type=int, default=50)
    args = parser.parse_args()
    home = tempfile.mkdtemp()
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for var in ("AWS_PROFILE", "AWS_REGION"):
        os.environ.pop(var, None)
    os.environ.update(
        LABCTL_HOME=home,
        LABCTL_ENGINEER="bench@example.com",
        LABCTL_CONFIG=os.path.join(home, "no-config.toml"),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
    )
    try:
        run(args.resources, args.untagged)
    finally:
        server.stop()


def run(resources: int, untagged: int) -> None:
    import boto3

    from labctl import naming
    from labctl import sweep as sweep_mod
    from labctl.backends.aws import AwsBackend

    sm = boto3.client("sagemaker", region_name="us-east-1")
    role = "arn:aws:iam::123456789012:role/labctl-bench"
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"

    def lab(name: str, tags: dict[str, str] | None, kinds: int = 3) -> int:
        t = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
        sm.create_model(
            ModelName=name, ExecutionRoleArn=role, PrimaryContainer={"Image": image}, Tags=t
        )
        if kinds == 1:
            return 1
        variant = {"VariantName": "AllTraffic", "ModelName": name,
                   "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}  # fmt: skip
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], Tags=t)
        if kinds == 2:
            return 2
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=t)
        return 3

    made, i = 0, 0
    while made < resources:
        tags = naming.tags(f"eng{i % 10}@example.com", "churn-pipeline", f"r{i:07x}")
        made += lab(f"lab-{i}", tags, min(3, resources - made))
        i += 1
    for j in range(untagged):
        lab(f"untagged-{j}", None)

    session = boto3.session.Session()
    calls: list[str] = []
    session.events.register("before-call", lambda model, **_: calls.append(model.name))
    backend = AwsBackend(session=session)
    start = time.perf_counter()
    found = sweep_mod.find(targets=["aws"], engineer=None, backends={"aws": backend})
    seconds = time.perf_counter() - start
    strays = found.strays
    assert len(strays) == resources, (len(strays), resources)
    burn = sum(s.usd_per_hour or 0 for s in strays)
    print(
        f"sweep discovery (aws, moto server): {len(strays)} tagged of "
        f"{made + 3 * untagged} resources in {seconds:.2f} s "
        f"({seconds / len(strays) * 1000:.1f} ms each, {len(calls)} AWS calls: "
        f"{calls.count('ListTags')} ListTags); ${burn:.2f}/h"
    )


if __name__ == "__main__":
    main()
