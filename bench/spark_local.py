"""The distributed-tuning lab on the local target at scale: Spark MLlib in local mode + tuning.

python bench/spark_local.py [--rows 1000000] [--trials 8] [--driver-memory 4g]

Runs `labctl up distributed-tuning --target local` as written in labs.yaml (GBT 50 iterations,
depth 6, 3-fold CrossValidator; single-node HistGradientBoosting with 3-fold CV; tuning trials
4 at a time) and prints the wall time, each step's time and metrics, and the MLflow run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time

from _common import labctl_bin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args()
    labctl = labctl_bin()
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "LABCTL_HOME": home,
            "LABCTL_ENGINEER": "bench",
            "LABCTL_SPARK_DRIVER_MEMORY": args.driver_memory,
        }

        def run(*argv: str) -> subprocess.CompletedProcess[str]:
            proc = subprocess.run([labctl, *argv], env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"labctl {' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
            return proc

        start = time.perf_counter()
        up = run("up", "distributed-tuning", "--target", "local", "--rows", str(args.rows),
                 "--trials", str(args.trials), "--json")  # fmt: skip
        up_s = time.perf_counter() - start
        steps = json.loads(up.stdout)["steps"]
        print(f"up distributed-tuning ({args.rows:,} rows, {args.trials} trials, "
              f"{os.cpu_count()} CPUs): {up_s:.1f} s wall")  # fmt: skip
        for name, res in steps.items():
            line = f"  {name}:"
            if res.get("seconds") is not None:
                line += f" {res['seconds']:.1f} s"
            if res.get("metrics"):
                line += " " + ", ".join(f"{k}={v:.4g}" for k, v in res["metrics"].items())
            if res.get("trials"):
                line += f" ({res['trials']} trials, best {res.get('best_hyperparameters')})"
            if res.get("tracking"):
                line += f" [mlflow run {res['tracking'].get('mlflow_run_id')}]"
            print(line)
        status = json.loads(run("status", "--json").stdout)
        print(f"status: {len(status)} run(s) up")
        start = time.perf_counter()
        run("down", "distributed-tuning", "--yes")
        print(f"down: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
