"""`labctl cost report` over a ledger of N resource rows for E engineers (SQLite by default).

python bench/cost_report.py [--rows 1000000] [--engineers 50]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import time
from datetime import datetime, timedelta

from _common import labctl_bin


def build(url: str, rows: int, engineers: int) -> None:
    from sqlalchemy import insert

    from labctl.ledger import Ledger, Resource, Run

    ledger = Ledger(url)
    rng = random.Random(7)
    now = datetime.utcnow()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    names = [f"eng{i:02d}@example.com" for i in range(engineers)]
    runs = [{"id": f"r{i:07d}", "engineer": names[i % engineers], "lab": f"lab-{i % 14}",
             "target": "aws", "status": "down", "workspace": "/w", "created_at": month_start,
             "outputs": {}} for i in range(engineers * 20)]  # fmt: skip
    with ledger.session() as s:
        s.execute(insert(Run), runs)
    batch = []
    kinds = ("training-job", "endpoint", "batch-job", "tuning-job")
    for i in range(rows):
        run = runs[i % len(runs)]
        start = month_start - timedelta(days=10) + timedelta(minutes=rng.randrange(40 * 24 * 60))
        start = min(start, now - timedelta(minutes=1))
        open_ = rng.random() < 0.01
        billable = rng.random() < 0.3
        stop = None if open_ else start + timedelta(minutes=rng.randrange(5, 600))
        seconds = rng.randrange(60, 3600) if billable and not open_ else None
        batch.append({
            "id": f"x{i:08d}", "run_id": run["id"], "engineer": run["engineer"],
            "lab": run["lab"], "target": "aws", "kind": rng.choice(kinds), "name": f"n{i}",
            "instance_type": "ml.m5.xlarge", "instance_count": 1 + i % 2,
            "price_per_hour": None if i % 997 == 0 else 0.23, "spot": billable,
            "status": "running" if open_ else "deleted", "started_at": start,
            "stopped_at": stop, "billable_seconds": seconds,
            "billed_hours": None if open_ else Resource(  # what close_resource stores
                started_at=start, stopped_at=stop, billable_seconds=seconds).hours(),
            "attrs": {},
        })  # fmt: skip
        if len(batch) == 50_000:
            with ledger.session() as s:
                s.execute(insert(Resource), batch)
            batch = []
    if batch:
        with ledger.session() as s:
            s.execute(insert(Resource), batch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engineers", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        url = os.environ.get("LABCTL_DB_URL") or f"sqlite:///{home}/ledger.db"
        start = time.perf_counter()
        build(url, args.rows, args.engineers)
        print(
            f"built {args.rows:,} resource rows for {args.engineers} engineers in "
            f"{time.perf_counter() - start:.1f} s"
        )
        env = {**os.environ, "LABCTL_HOME": home, "LABCTL_DB_URL": url}
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            subprocess.run([labctl_bin(), "cost", "report", "--json"], env=env,
                           check=True, capture_output=True)  # fmt: skip
            times.append(time.perf_counter() - t)
        times.sort()
        print(
            f"labctl cost report --json: median {times[len(times) // 2]:.2f} s, "
            f"min {times[0]:.2f} s ({args.runs} runs, whole command)"
        )


if __name__ == "__main__":
    main()
