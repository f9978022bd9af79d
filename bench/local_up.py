"""The local target's figures: `up churn-pipeline` wall time, endpoint latency, `down` time.

python bench/local_up.py [--rows 100000] [--trials 20] [--requests 1000]
python bench/local_up.py --terraform-only [--repeat 3]   # terraform init+apply+destroy alone
python bench/local_up.py --every-lab [--timeout 1200]    # `up` of each lab at its default size
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import labctl_bin


def terraform_only(repeat: int) -> None:
    """Time `terraform init`, `apply` (with its outputs) and `destroy` of the local target's root
    module through labctl's Stack, with the engine labctl picks (set LABCTL_TERRAFORM or not)."""
    with tempfile.TemporaryDirectory() as home:
        os.environ["LABCTL_HOME"] = home
        from labctl import orchestrator
        from labctl.backends.base import get_backend
        from labctl.terraform import Stack

        backend = get_backend("local")
        ws = Path(home) / "ws"
        figures: dict[str, list[float]] = {"init": [], "apply": [], "destroy": []}
        for i in range(repeat):
            directory = ws / f"tf{i}"
            orchestrator.root_module(
                backend, engineer="bench", lab="churn-pipeline", run_id=f"r{i}", ws=ws
            ).write(directory)
            stack = Stack(directory, offline_plugins=True)
            for phase, call in (("init", stack.init), ("apply", stack.apply),
                                ("destroy", stack.destroy)):  # fmt: skip
                start = time.perf_counter()
                call()
                figures[phase].append(time.perf_counter() - start)
        engine = getattr(stack, "engine", None) or getattr(stack, "binary", "?")
        print(f"terraform via {engine}, median of {repeat}:")
        for phase, times in figures.items():
            print(f"  {phase}: {statistics.median(times):.2f} s")
        total = sum(statistics.median(t) for t in figures.values())
        print(f"  init+apply+destroy: {total:.2f} s")


def every_lab(timeout: float) -> None:
    """`up LAB --target local` of every lab of the catalog at its default size (its data steps'
    rows, its tuning's max_jobs), then `down LAB`; one line per lab: wall time of `up`, of
    `down`, or the first line of the error. Each lab in a fresh LABCTL_HOME."""
    from labctl import catalog, paths

    labs = catalog.load(paths.catalog_path()).labs
    labctl = labctl_bin()
    print(f"{'lab':32} {'up s':>8} {'down s':>7}  result")
    total = 0.0
    for name in labs:
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "LABCTL_HOME": home, "LABCTL_ENGINEER": "bench"}
            start = time.perf_counter()
            try:
                up = subprocess.run([labctl, "up", name, "--target", "local", "--json"], env=env,
                                    capture_output=True, text=True, timeout=timeout)  # fmt: skip
                result = (
                    "ok" if up.returncode == 0 else (up.stderr.strip().splitlines() or ["?"])[0]
                )
            except subprocess.TimeoutExpired:
                result = f"timeout after {timeout:.0f} s"
            up_s = time.perf_counter() - start
            start = time.perf_counter()
            subprocess.run([labctl, "down", name, "--yes"], env=env, capture_output=True,
                           text=True, timeout=600)  # fmt: skip
            down_s = time.perf_counter() - start
        total += up_s
        print(f"{name:32} {up_s:8.1f} {down_s:7.1f}  {result[:100]}", flush=True)
    print(f"{'all labs':32} {total:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--terraform-only", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--every-lab", action="store_true")
    parser.add_argument("--timeout", type=float, default=1200.0, help="per lab, seconds")
    args = parser.parse_args()
    if args.every_lab:
        every_lab(args.timeout)
        return
    if args.terraform_only:
        terraform_only(args.repeat)
        return
    labctl = labctl_bin()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "LABCTL_HOME": home, "LABCTL_ENGINEER": "bench"}

        def run(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([labctl, *argv], env=env, capture_output=True, text=True,
                                  check=True)  # fmt: skip

        start = time.perf_counter()
        up = run("up", "churn-pipeline", "--rows", str(args.rows), "--trials", str(args.trials),
                 "--json")  # fmt: skip
        up_s = time.perf_counter() - start
        steps = json.loads(up.stdout)["steps"]
        print(f"up churn-pipeline ({args.rows:,} rows, {args.trials} trials): {up_s:.1f} s wall")
        for name, res in steps.items():
            if res.get("metrics"):
                print(f"  {name}: {res['metrics']}")

        status = json.loads(run("status", "--json").stdout)
        url = next(r["url"] for s in status for r in s["resources"] if r["kind"] == "endpoint")
        schema = json.loads(next(Path(home).glob("workspaces/*/*/local/bucket/data/*/schema.json"))
                            .read_text())  # fmt: skip
        row = ",".join("1" for _ in schema["features"]).encode()
        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port))
        latencies = []
        for _ in range(args.requests):
            t = time.perf_counter()
            conn.request("POST", "/invocations", body=row,
                         headers={"Content-Type": "text/csv", "Accept": "text/csv"})  # fmt: skip
            response = conn.getresponse()
            response.read()
            latencies.append((time.perf_counter() - t) * 1000)
            assert response.status == 200
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        print(
            f"endpoint single-record latency over {args.requests} keep-alive requests: "
            f"p50 {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms"
        )

        start = time.perf_counter()
        run("down", "--all", "--yes")
        print(f"down --all: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
