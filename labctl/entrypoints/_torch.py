"""PyTorch helpers the framework entry points share: data-parallel training from the environment.

torchrun (SageMaker's `torch_distributed`) and the local target (`run_ranks` in
labctl/backends/local/training.py) both set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT;
`distributed()` joins that process group (gloo on CPU, nccl on GPU) and `wrap()` makes the model
DistributedDataParallel. Every rank reads the whole channel and trains on its `shard()` of it;
only the main rank (`is_main()`) evaluates, emits metrics and writes model/. Without WORLD_SIZE
> 1 all of this is a no-op and the script trains in one process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from labctl.entrypoints import contract

INSTALL = "pip install 'labctl[torch]'"


def available() -> bool:
    """Whether PyTorch is installed."""
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except ImportError:
        return False


def require(script: str) -> None:
    """RuntimeError naming the install command when PyTorch is missing."""
    if not available():
        raise RuntimeError(f"{script} trains with PyTorch, which is not installed: {INSTALL}")


def rank() -> int:
    return int(os.environ.get("RANK") or 0)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE") or 1)


def is_main() -> bool:
    """Whether this process evaluates, reports and saves (rank 0)."""
    return rank() == 0


def log(message: str) -> None:
    """A progress line naming the rank, on stdout (the job's log)."""
    sys.stdout.write(f"rank {rank()}/{world_size()}: {message}\n")
    sys.stdout.flush()


@contextmanager
def distributed() -> Iterator[str | None]:
    """Join the job's process group for the block when WORLD_SIZE > 1; yields the backend."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(max(1, contract.num_cpus()))
    if world_size() <= 1:
        yield None
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend, rank=rank(), world_size=world_size())
    log(f"joined the {backend} process group at {os.environ.get('MASTER_ADDR')}:"
        f"{os.environ.get('MASTER_PORT')}")  # fmt: skip
    try:
        yield backend
    finally:
        dist.destroy_process_group()


def wrap(model: Any) -> Any:
    """The model as DistributedDataParallel when in a process group, else itself."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    if dist.is_available() and dist.is_initialized():
        return DistributedDataParallel(model)
    return model


def shard(n: int, seed: int, epoch: int) -> np.ndarray:
    """This rank's rows of an epoch: a seeded permutation of range(n), every rank the same
    number of rows (the tail that does not divide evenly is dropped), as DistributedSampler."""
    order = np.random.default_rng(seed + epoch).permutation(n)
    per_rank = n // world_size()
    if per_rank == 0:
        raise ValueError(f"{n} rows cannot be split over {world_size()} ranks")
    return order[rank() * per_rank : (rank() + 1) * per_rank]


def batches(rows: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """`rows` in consecutive batches of `size` (the last one shorter)."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
