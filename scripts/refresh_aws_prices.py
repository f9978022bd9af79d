"""Rebuild the AWS rows of the price catalog from the AWS Price List API.

Usage: python scripts/refresh_aws_prices.py [--path labctl/data/prices.csv] [--region us-east-1 ...]
Needs boto3 and credentials allowed to call pricing:GetProducts. The gcp and databricks rows are
kept; on any API failure the catalog is left as it was. Review the diff before committing it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labctl import paths
from labctl.errors import LabctlError
from labctl.prices import AWS_REGIONS, refresh_aws


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=paths.data_file("prices.csv"))
    parser.add_argument("--region", action="append", dest="regions", help="repeatable")
    args = parser.parse_args(argv)
    try:
        written = refresh_aws(args.path, regions=tuple(args.regions or AWS_REGIONS))
    except LabctlError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return int(exc.exit_code)
    print(f"wrote {written} AWS rows to {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
