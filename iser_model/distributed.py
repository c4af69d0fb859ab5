"""Data-parallel training (torch DDP) for ``ddikg train`` under ``torchrun --nproc-per-node N``.

torchrun starts N copies of the command and describes the group in the environment (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR/PORT). Then, with the same options as a single process:

- the processes join one group: gloo on CPU, NCCL on CUDA (one GPU per process: ``cuda:LOCAL_RANK``);
- every process draws the same shuffled global batches of ``batch_size x N`` sentences and trains on
  its own contiguous part of each (:func:`rank_batches`); a sentence's negatives come from its own
  generator (``sampling.sample_rng``), so which process draws it does not matter;
- each process divides its summed losses by the global batch's span and pair counts (over N), and DDP
  averages the gradients: the gradient is the one of a single process on the global batch, so one step of
  N processes at batch B is one step of a single process at batch N x B;
- stop decisions (the time budget) are taken together; rank 0 alone evaluates, writes metrics, curves
  and the checkpoint, which holds the plain model (never the DDP wrapper) and loads anywhere.

Without torchrun (WORLD_SIZE unset or 1) every function here is the identity of a single process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def launched() -> bool:
    """Started by torchrun (or another env:// launcher) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def env_rank() -> int:
    return int(os.environ.get("RANK", "0")) if launched() else 0


def context() -> DistContext:
    """This process's place in the group (a single process when no group was set up)."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistContext()


def setup(device: torch.device) -> torch.device:
    """Join the group torchrun describes, if any; return this process's device (``cuda:LOCAL_RANK``
    for CUDA, so that each process drives its own GPU)."""
    if not launched():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                device_id=device if device.type == "cuda" else None)
    return device


def teardown(wait: bool = True) -> None:
    """Wait for every process (rank 0 may still be evaluating or saving), then leave the group."""
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def side_dir(out_dir: Path) -> Path:
    """Where this process writes by-products every process would write alike (the readers' rejects):
    ``out_dir`` on rank 0, a private temporary directory elsewhere (removed by :func:`drop_side_dir`)."""
    rank = env_rank()
    return out_dir if rank == 0 else Path(tempfile.mkdtemp(prefix=f"ddikg-rank{rank}-"))


def drop_side_dir(path: Path, out_dir: Path) -> None:
    if path != out_dir:
        shutil.rmtree(path, ignore_errors=True)


def rank_batches(batches: list[list[int]], ctx: DistContext) -> list[list[int]]:
    """This process's part of each global batch: the ``ctx.rank``-th of ``ctx.world`` contiguous,
    near-equal parts (a length-sorted batch gives length-sorted parts). A global batch with fewer
    sentences than processes (at most the epoch's last) is left out by every process alike."""
    if not ctx.active:
        return batches
    return [np.array_split(np.asarray(b), ctx.world)[ctx.rank].tolist() for b in batches if len(b) >= ctx.world]


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every process when it is true on one (e.g. "out of time": all stop at the same step)."""
    if not ctx.active:
        return flag
    t = torch.tensor([float(flag)], device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def mean_over_ranks(value: float, ctx: DistContext) -> float:
    if not ctx.active:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return float(t.item()) / ctx.world


def _comm_device() -> torch.device:
    # NCCL reduces CUDA tensors only; gloo CPU tensors
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


class _Loss(nn.Module):
    """DDP's module: its forward is the model's loss, so DDP's gradient hooks cover every parameter."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor], denominators: tuple[torch.Tensor, torch.Tensor]):
        return self.model.loss(batch, denominators)


def data_parallel_loss(model: nn.Module, device: torch.device, ctx: DistContext) -> Callable:
    """``model.loss`` for :func:`ddikg.iser_model.trainer.train_step` in a group: the model wrapped in DDP
    (gradients averaged during backward), the sums divided by the global batch's counts over the
    number of processes, so the averaged gradient is the global batch's own."""
    if getattr(model.cfg, "compile", False):
        raise ValueError("IserConfig.compile is not supported with torchrun (DDP); train with compile=false")
    ddp = nn.parallel.DistributedDataParallel(_Loss(model), device_ids=[device.index] if device.type == "cuda" else None)

    def loss(batch: dict[str, torch.Tensor]):
        counts = torch.stack([batch["span_mask"].sum(), batch["pair_mask"].sum()]).to(torch.float32)  # (2,)
        dist.all_reduce(counts)  # real spans and pairs of the whole global batch
        return ddp(batch, (counts[0] / ctx.world, counts[1].clamp(min=1) / ctx.world))

    return loss
