"""Ranks under ``torchrun``: the process group, each rank's device and its share of the work.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (and the rendezvous
variables) for every process it starts. :func:`start` reads them: with ``WORLD_SIZE > 1``
it joins the process group with NCCL when the run uses CUDA (one GPU per rank,
``cuda:LOCAL_RANK``) and gloo on CPUs; a plain process is rank 0 of 1 and starts no group.

:func:`share` is the split: rank ``r`` of ``K`` takes items ``r, r + K, r + 2K, ...`` of
the pending list. Unlike ``DistributedSampler``'s default, nothing is padded, so no
image is explained twice; the shares differ in length by at most one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import torch

__all__ = ["Ranks", "share", "start"]

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run.

    Attributes:
        rank, world_size, local_rank: as ``torchrun`` sets them (0, 1, 0 for one process).
        backend: ``"nccl"``, ``"gloo"`` or ``None`` (no process group: one process).
        device: where this rank's model runs (``"cpu"``, ``"cuda:<local_rank>"``).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that merges, reports and shows progress)."""
        return self.rank == 0

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (any picklable object)."""
        if self.backend is None:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def wait_all(self, while_waiting: Callable[[], None] | None = None,
                 interval: float = 0.5) -> None:
        """Barrier over all ranks; rank 0 calls ``while_waiting`` every ``interval`` s."""
        if self.backend is None:
            return
        import torch.distributed as dist

        devices = [torch.cuda.current_device()] if self.backend == "nccl" else None
        work = dist.barrier(async_op=True, device_ids=devices)
        if while_waiting is None:
            work.wait()
            return
        while not work.is_completed():
            while_waiting()
            time.sleep(interval)
        work.wait()

    def close(self) -> None:
        """Leave the process group (if any)."""
        if self.backend is not None:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise ValueError(f"expected an integer in environment variable {name}, got "
                         f"{value!r}") from None


def start(device: str = "auto") -> Ranks:
    """Join ``torchrun``'s process group (if any) and choose this rank's device.

    Args:
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    """
    rank, world = _int_env("RANK", 0), _int_env("WORLD_SIZE", 1)
    local_rank = _int_env("LOCAL_RANK", rank)
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if cuda and not torch.cuda.is_available():
        raise ValueError("expected a CUDA device for --device cuda, got none "
                         "(torch.cuda.is_available() is False); use --device cpu")
    if cuda:
        count = torch.cuda.device_count()
        if world > 1 and local_rank >= count:
            raise ValueError(f"expected one rank per GPU (LOCAL_RANK below {count}), got "
                             f"LOCAL_RANK {local_rank}: pass --nproc_per_node={count} or fewer,"
                             f" or --device cpu")
        torch.cuda.set_device(local_rank % count)
        chosen = f"cuda:{torch.cuda.current_device()}"
    else:
        chosen = "cpu"
    if world <= 1:
        return Ranks(device=chosen)
    import torch.distributed as dist

    backend = "nccl" if cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Ranks(rank, world, local_rank, backend, chosen)


def share(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """Rank ``rank``'s strided share of ``items``: no padding, no item twice.

    Example:
        >>> share(list("abcde"), 0, 2), share(list("abcde"), 1, 2)
        (['a', 'c', 'e'], ['b', 'd'])
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"expected 0 <= rank < world_size, got rank {rank} of {world_size}")
    return list(items[rank::world_size])
