"""Local DDP: a text classifier on distributed-training-inference's reviews, 1 process vs 2 (gloo).

python bench/ddp_local.py [--rows 20000] [--epochs 3] [--learning-rate 0.01] [--ranks 1 2]

Generates the lab's review text once (amazon-reviews-text), then runs
`labctl.entrypoints.text_classifier` (its PyTorch bag-of-words model; the lab's own steps run
`hf_text`) with `distribution: torch_distributed` as the local target runs a step of N instances
(`training.command`: N torch.distributed ranks sharing the data) and prints, per N, the wall
time, the mean time per epoch (rank 0's `train:epoch_seconds`) and the final validation
accuracy. Needs PyTorch (`pip install 'labctl[torch]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from labctl import datagen
from labctl.backends.local import training
from labctl.entrypoints import contract

MODULE = "labctl.entrypoints.text_classifier"


def run(data: Path, job: Path, ranks: int, hps: dict) -> dict[str, float]:
    env = contract.prepare_job_dir(
        job, {c: data / c for c in ("train", "validation")}, hps, instance_count=ranks
    )
    started = time.monotonic()
    proc = subprocess.run(
        training.command(MODULE, f"bench-ddp-{ranks}", ranks),
        cwd=job,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{ranks} rank(s) failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    lines = (line.strip().removeprefix(training.RANK0) for line in proc.stdout.splitlines())
    epochs = [v for n, v, _ in filter(None, map(contract.parse_metric_line, lines)) if
              n == "train:epoch_seconds"]  # fmt: skip
    final = json.loads((job / "output" / "data" / "metrics.json").read_text())
    return {
        "wall_s": wall,
        "epoch_s": sum(epochs) / len(epochs),
        "accuracy": final["validation:accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    hps = {
        "distribution": "torch_distributed",
        "epochs": args.epochs,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "seed": 1,
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "reviews"
        datagen.generate("amazon-reviews-text", rows=args.rows, seed=42, out_dir=data)
        print(f"{args.rows:,} reviews, {args.epochs} epochs, batch {args.batch_size} per rank")
        print(f"{'ranks':>5}  {'wall s':>7}  {'s/epoch':>7}  {'val acc':>7}")
        for ranks in args.ranks:
            r = run(data, Path(tmp) / f"job-{ranks}", ranks, hps)
            print(f"{ranks:>5}  {r['wall_s']:7.2f}  {r['epoch_s']:7.3f}  {r['accuracy']:7.4f}")


if __name__ == "__main__":
    main()
