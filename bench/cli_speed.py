"""Median wall time of the commands that must stay fast: `labctl --help`, `list`, `status`.

python bench/cli_speed.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time

from _common import labctl_bin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    labctl = labctl_bin()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "LABCTL_HOME": home, "LABCTL_ENGINEER": "bench"}
        for argv in (["--help"], ["list"], ["list", "--json"], ["status"]):
            subprocess.run([labctl, *argv], env=env, capture_output=True, check=True)  # warm
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                subprocess.run([labctl, *argv], env=env, capture_output=True, check=True)
                times.append(time.perf_counter() - start)
            print(
                f"labctl {' '.join(argv):<12} median {statistics.median(times):.3f} s  "
                f"min {min(times):.3f} s  max {max(times):.3f} s  ({args.runs} runs)"
            )


if __name__ == "__main__":
    main()
