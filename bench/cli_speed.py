"""Wall time of the commands people run all day, as a ratio to the bare-import floor.

The floor is `python -c "import typer, yaml, pydantic, rich"`: what any Typer + rich + pydantic CLI
pays before doing anything. `status` and `cost report` (empty ledger) must stay within 4x of it;
`--help` and `list` as close to 1x as they can. Runs are interleaved (floor, then each command, per
round) so a busy machine slows all of them alike.

python bench/cli_speed.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import labctl_bin

FLOOR = [sys.executable, "-c", "import typer, yaml, pydantic, rich"]
COMMANDS = (["--help"], ["list"], ["list", "--json"], ["status"], ["cost", "report"])
LIMIT = {"status": 4.0, "cost report": 4.0}  # the bound; the others: as fast as possible


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    labctl = labctl_bin()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "LABCTL_HOME": home, "LABCTL_ENGINEER": "bench"}
        for argv in COMMANDS:  # warm: the ledger's schema, the catalog cache, .pyc files
            subprocess.run([labctl, *argv], env=env, capture_output=True, check=True)
        times: dict[str, list[float]] = {"floor": []}
        for _ in range(args.runs):
            times["floor"].append(_time(FLOOR, env))
            for argv in COMMANDS:
                times.setdefault(" ".join(argv), []).append(_time([labctl, *argv], env))
    floor = statistics.median(times["floor"])
    print(f"{'bare import floor':<22} median {floor:.3f} s  ({args.runs} runs, interleaved)")
    for name, values in times.items():
        if name == "floor":
            continue
        median = statistics.median(values)
        limit = LIMIT.get(name)
        verdict = ""
        if limit is not None:
            verdict = f"  (limit {limit:g}x: {'ok' if median / floor <= limit else 'OVER'})"
        print(f"labctl {name:<15} median {median:.3f} s  {median / floor:4.1f}x the floor{verdict}")


if __name__ == "__main__":
    main()
